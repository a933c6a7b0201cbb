// On a phone the wrapped tables are shown as cards (style.css), and changing a table's display
// drops its table semantics in some browsers (Safari). The roles below give them back. They are
// set here, on the live page, rather than written in the HTML, where HTML forbids them on
// elements whose role they only repeat (the Nu HTML checker rejects such markup).
"use strict";
(function () {
  var roles = [
    ["table", "table"],
    ["thead, tbody, tfoot", "rowgroup"],
    ["tr", "row"],
    ["th[scope=col]", "columnheader"],
    ["th[scope=row]", "rowheader"],
    ["td", "cell"],
  ];
  document.querySelectorAll(".table-wrap table").forEach(function (table) {
    roles.forEach(function (pair) {
      if (table.matches(pair[0])) table.setAttribute("role", pair[1]);
      table.querySelectorAll(pair[0]).forEach(function (element) {
        element.setAttribute("role", pair[1]);
      });
    });
  });
})();
