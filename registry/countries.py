"""ISO 3166-1 alpha-2 codes and the names shown to readers."""

from __future__ import annotations

from functools import cache

import pycountry


@cache
def _names() -> dict[str, str]:
    names = {c.alpha_2: getattr(c, "common_name", c.name) for c in pycountry.countries}
    # pycountry follows ISO's long forms; readers know these by their short names.
    names.update({"US": "United States", "GB": "United Kingdom", "KR": "South Korea"})
    # Exceptionally reserved by ISO and used throughout the EU's own documents.
    names["EU"] = "European Union"
    return names


# The European Economic Area: the EU's 27 members, Iceland, Liechtenstein and Norway. Personal
# data leaving it needs a transfer mechanism (GDPR chapter V); "EU" stands for all of them.
EEA: frozenset[str] = frozenset(
    {
        *("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE"),
        *("IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"),
        *("IS", "LI", "NO", "EU"),
    }
)


def in_eea(code: str) -> bool:
    return code.upper() in EEA


def is_country(code: str) -> bool:
    return code in _names()


def country_name(code: str) -> str:
    """The name for a code; an unknown code is shown as given rather than hidden."""
    return _names().get(code, code)


def all_countries() -> list[tuple[str, str]]:
    """(code, name) pairs sorted by name, for filters and forms."""
    return sorted(_names().items(), key=lambda pair: pair[1])
