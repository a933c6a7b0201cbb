"""The public fields of a processor: their vocabulary, validation and canonical form.

Every way in (import, the admin UI, the API, the demo) validates through ``clean_processor`` and
every way out (HTML, JSON, CSV, snapshots) starts from ``processor_fields``, so the shapes agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from registry.countries import ambiguous, country_code, country_name, in_eea
from registry.csvsafe import starts_formula
from registry.limits import MAX_NAME, MAX_REASON
from registry.lists.models import Processor, ProcessorKind
from registry.lists.snapshots import entry_fields, mechanism_list
from registry.templating import format_date
from registry.validation import ValidationError, hidden_characters, publishable, text_problem

KIND_LABELS: dict[str, str] = {
    ProcessorKind.SUBPROCESSOR: "Third-party sub-processor",
    ProcessorKind.SUBCONTRACTOR: "Subcontractor",
    ProcessorKind.AFFILIATE: "Affiliate",
}
KIND_PLURALS: dict[str, str] = {
    ProcessorKind.SUBPROCESSOR: "Third-party sub-processors",
    ProcessorKind.SUBCONTRACTOR: "Subcontractors",
    ProcessorKind.AFFILIATE: "Affiliates",
}

TRANSFER_MECHANISMS: dict[str, str] = {
    "none": "No transfer (processing within the EEA)",
    "adequacy": "Adequacy decision",
    "scc": "Standard Contractual Clauses",
    "dpf": "EU-US Data Privacy Framework",
    "bcr": "Binding corporate rules",
    "derogation": "Art. 49 derogation",
    # Group companies often transfer under an agreement of their own (which may embed the SCCs);
    # a published list names it as such, and so do we rather than guess what it contains.
    "intragroup": "Intra-group agreement",
}

# Other ways published lists write a kind or a mechanism. Each is compared by its letters and
# digits only, case-insensitively ("EU-U.S. DPF" is "euusdpf"); the codes, labels and plurals
# above are accepted without being listed here.
_KIND_SPELLINGS: dict[str, tuple[str, ...]] = {
    ProcessorKind.SUBPROCESSOR: ("sub-processor", "third party subprocessor", "sub-processors"),
    ProcessorKind.SUBCONTRACTOR: ("sub-contractor", "sub-contractors"),
    ProcessorKind.AFFILIATE: ("affiliated company", "group company", "corporate affiliate"),
}
_MECHANISM_SPELLINGS: dict[str, tuple[str, ...]] = {
    "none": ("no transfer", "none (EEA)", "within the EEA"),
    "adequacy": ("adequacy", "EU adequacy decision", "adequacy decisions"),
    "scc": (
        "SCC",
        "SCCs",
        "Standard Contractual Clauses (SCCs)",
        "Standard Contractual Clauses (SCC)",
        "EU Standard Contractual Clauses",
        "EU SCCs",
        "EU SCC",
    ),
    "dpf": (
        "DPF",
        "EU-US DPF",
        "EU-U.S. DPF",
        "EU-U.S. Data Privacy Framework",
        "EU-US Data Privacy Framework (DPF)",
        "EU-U.S. Data Privacy Framework (DPF)",
        "Data Privacy Framework",
    ),
    "bcr": ("BCR", "BCRs", "Binding Corporate Rules (BCRs)", "Binding Corporate Rules (BCR)"),
    "derogation": ("Art. 49", "Article 49 derogation", "Art. 49 GDPR derogation", "Article 49 GDPR"),
    "intragroup": ("intra-group", "intragroup agreement", "intra-group data transfer agreement"),
}

# Public field names, in the order they are shown and exported.
FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "legal_entity",
    "purpose",
    "data_categories",
    "locations",
    "corporate_location",
    "transfer_mechanisms",
    "kind",
    "website",
    "safeguards_url",
    "scope",
    "since",
)
LIST_FIELDS = ("data_categories", "locations", "transfer_mechanisms")
# What a reader is told of an entry that is added (or replaces another), on the pages and in the
# emails alike: who, for what, within which scope, which data, where, under which safeguard.
DETAIL_FIELDS: tuple[str, ...] = (
    "legal_entity",
    "purpose",
    "scope",
    "data_categories",
    "locations",
    "transfer_mechanisms",
)
# The fields whose change alters processing: never a correction, always announced with notice.
# The scope narrows processing ("only where AI features are on"); the legal entity is who
# processes.
MATERIAL_FIELDS: tuple[str, ...] = (
    "legal_entity",
    "data_categories",
    "locations",
    "corporate_location",
    "transfer_mechanisms",
    "kind",
    "scope",
)
# Texts a correction may fix, a few words at a time: a typo in a name is a correction, another
# name (or another purpose) is a different sub-processor.
WORDING_FIELDS: tuple[str, ...] = ("name", "purpose")
FIELD_LABELS: dict[str, str] = {
    "id": "Identifier",
    "name": "Name",
    "legal_entity": "Legal entity",
    "purpose": "Purpose",
    "data_categories": "Categories of personal data",
    "locations": "Processing locations",
    "corporate_location": "Corporate location",
    "transfer_mechanisms": "Transfer mechanisms",
    "kind": "Kind",
    "website": "Website",
    "safeguards_url": "Safeguards / DPA",
    "scope": "Scope",
    "since": "Processing since",
}

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LIMITS = {
    "name": MAX_NAME,
    "legal_entity": 300,
    "purpose": MAX_REASON,
    "scope": 1000,
    "website": 500,
    "safeguards_url": 500,
}
_MAX_ITEMS = 50
_MAX_ITEM = 200
# A value a spreadsheet would run as a formula is refused (``registry.csvsafe``): the CSV is then
# both safe and an exact round trip of the data.
_FORMULA_MESSAGE = "{label} must not start with =, +, -, @ or a tab: spreadsheets run those as formulas."
# What to say when a field is left empty that must not be: what to enter, with an example.
_MISSING = {
    "name": "Enter the name of the processor, for example 'Stripe'.",
    "purpose": "Enter the purpose: what the processor does with the data, for example 'Payment processing'.",
}


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())


def _hidden(field: str, problem: str) -> str:
    """``text_problem`` ends a sentence about some text; here it is about one field."""
    return f"{_label(field)} {problem}."


def _formula(field: str) -> str:
    return _FORMULA_MESSAGE.format(label=_label(field))


def _key(value: str) -> str:
    return "".join(re.findall(r"[a-z0-9]+", value.lower()))


def _vocabulary(*names: Mapping[str, Any]) -> dict[str, str]:
    """Every accepted spelling's key -> its code; a spelling meaning two codes is a bug."""
    lookup: dict[str, str] = {}
    for table in names:
        for code, spellings in table.items():
            for spelling in (code, *((spellings,) if isinstance(spellings, str) else spellings)):
                existing = lookup.setdefault(_key(spelling), str(code))
                assert existing == str(code), f"{spelling!r} means both {existing} and {code}"
    return lookup


_KINDS = _vocabulary(KIND_LABELS, KIND_PLURALS, _KIND_SPELLINGS)
_MECHANISMS = _vocabulary(TRANSFER_MECHANISMS, _MECHANISM_SPELLINGS)


def kind_code(value: str) -> str | None:
    """The kind a code, label or common spelling names ("Sub-processor", "Affiliates"), or None.

    The one place a kind is read from text: the import, the API and the admin pages all go
    through ``clean_processor``, which calls this.
    """
    return _KINDS.get(_key(value))


def mechanism_code(value: str) -> str | None:
    """The transfer mechanism a code, label or common spelling names ("SCCs"), or None."""
    return _MECHANISMS.get(_key(value))


def _unknown(value: str, what: str, labels: Mapping[str, str]) -> str:
    """A refusal that quotes what was given and lists what is accepted."""
    accepted = ", ".join(f"{code} ({label})" for code, label in labels.items())
    return f"There is no {what} called {value[:80]!r}: use one of {accepted}."


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].strip("-") or "processor"


def processor_fields(processor: Processor) -> dict[str, Any]:
    """The canonical public form of an entry (what snapshots store and JSON shows)."""
    return {
        "id": processor.slug,
        "name": processor.name,
        "legal_entity": processor.legal_entity,
        "purpose": processor.purpose,
        "data_categories": list(processor.data_categories),
        "locations": list(processor.locations),
        "corporate_location": processor.corporate_location,
        "transfer_mechanisms": list(processor.transfer_mechanisms),
        "kind": str(processor.kind),
        "website": processor.website,
        "safeguards_url": processor.safeguards_url,
        "scope": processor.scope,
        "since": processor.since.isoformat() if processor.since else None,
    }


def assign_fields(processor: Processor, fields: Mapping[str, Any]) -> None:
    """Write canonical fields onto a row (the inverse of ``processor_fields``)."""
    processor.slug = fields["id"]
    for name in FIELDS[1:]:
        value = fields[name]
        if name == "since":
            value = date.fromisoformat(value) if value else None
        elif name == "kind":
            value = ProcessorKind(value)
        elif name in LIST_FIELDS:
            value = list(value)
        setattr(processor, name, value)


def _text(value: Any, field: str, required: bool, errors: dict[str, str]) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = f"{_label(field)} must be text."
        return ""
    value = value.strip()
    problem = text_problem(value)
    if problem:
        errors[field] = _hidden(field, problem)
    elif required and not value:
        errors[field] = _MISSING.get(field, f"Enter the {_label(field).lower()}.")
    elif field in _LIMITS and len(value) > _LIMITS[field]:
        errors[field] = f"{_label(field)} must be {_LIMITS[field]} characters or fewer."
    elif field not in ("purpose", "scope") and any(ch in value for ch in "\r\n"):
        errors[field] = f"{_label(field)} must be on one line: remove the line breaks."
    elif starts_formula(value):
        errors[field] = _formula(field)
    return value


def _items(value: Any, field: str, errors: dict[str, str]) -> list[str]:
    """Accept a list or a semicolon-separated string (the CSV form)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(";")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors[field] = f"{_label(field)} must be a list of text items."
        return []
    items = [item.strip() for item in value if item.strip()]
    # Said apart from the generic message: what was found cannot be seen, so it is named.
    hidden = next((text_problem(item) for item in items if hidden_characters(item)), None)
    if len(items) > _MAX_ITEMS:
        errors[field] = f"{_label(field)} can have at most {_MAX_ITEMS} items: remove some."
    elif hidden:
        errors[field] = _hidden(field, hidden)
    elif any(
        len(item) > _MAX_ITEM or any(ch in item for ch in "\r\n\x00;") or not publishable(item)
        for item in items
    ):
        errors[field] = (
            f"Each item of {_label(field).lower()} must be one line of at most {_MAX_ITEM} "
            "characters, without ';'."
        )
    elif any(starts_formula(item) for item in items):
        errors[field] = _formula(field)
    # Keep the order given but drop repeats: the list is a set shown in a chosen order.
    return list(dict.fromkeys(items))


# What joins several mechanisms in one text as published lists write them: "DPF and SCCs",
# "SCCs; BCRs", "DPF / SCC", "DPF, SCCs". Looked for outside parentheses only, so that
# "Standard Contractual Clauses (SCCs)" stays whole.
_MECHANISM_JOINS = re.compile(r"\s*(?:[;,/+&]|\band/or\b|\band\b|\bor\b)\s*", re.IGNORECASE)
# The one-mechanism field entries had before they could name several; still read on import.
_OLD_MECHANISM = "transfer_mechanism"
FORMER_FIELDS: tuple[str, ...] = (_OLD_MECHANISM,)
_MECHANISM_FIELD = "transfer_mechanisms"


def mechanism_parts(text: str) -> list[str]:
    """The mechanisms one text names, each as written: a known spelling whole, else its parts."""
    text = text.strip()
    if not text or mechanism_code(text) is not None:
        return [text] if text else []
    depth = 0
    masked = []
    for char in text:
        depth += char == "("
        masked.append("(" if depth else char)  # inside parentheses nothing is a join
        depth -= char == ")" and depth > 0
    parts, start = [], 0
    for join in _MECHANISM_JOINS.finditer("".join(masked)):
        parts.append(text[start : join.start()])
        start = join.end()
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _mechanisms(data: Mapping[str, Any], errors: dict[str, str]) -> list[str]:
    """The mechanism codes an input names: a list, or a text naming one or several.

    ``transfer_mechanism`` (one text) is what entries carried before they could name several;
    an import of an older export, or of a list as published, still gives it.
    """
    field = _MECHANISM_FIELD
    if _OLD_MECHANISM in data and data.get(field) not in (None, "", []):
        errors[field] = f"Give {field} only, not also {_OLD_MECHANISM}."
        return []
    value = data.get(field) if data.get(field) not in (None, "", []) else data.get(_OLD_MECHANISM)
    if value is None or value == "":
        value = []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors[field] = "Transfer mechanisms must be a list of mechanism codes, or a text naming them."
        return []
    given: list[str] = []
    for item in value:
        problem = text_problem(item.strip())
        if problem or starts_formula(item.strip()):
            errors[field] = _hidden(field, problem) if problem else _formula(field)
            return []
        given += mechanism_parts(item)
    if len(given) > len(TRANSFER_MECHANISMS):
        errors[field] = f"Name at most {len(TRANSFER_MECHANISMS)} transfer mechanisms."
        return []
    unknown = next((part for part in given if mechanism_code(part) is None), None)
    if unknown is not None:
        errors[field] = _unknown(unknown, "transfer mechanism", TRANSFER_MECHANISMS)
        return []
    codes = [str(mechanism_code(part)) for part in given]
    repeated = next((code for code in codes if codes.count(code) > 1), None)
    if not codes:
        errors[field] = (
            "Choose at least one transfer mechanism: at least one is required "
            '("none" when the data stays in the EEA).'
        )
    elif repeated:
        errors[field] = (
            f"Name each mechanism once: this names {TRANSFER_MECHANISMS[repeated]} ({repeated}) twice."
        )
    elif "none" in codes and len(codes) > 1:
        errors[field] = (
            f"Choose either other mechanisms or {TRANSFER_MECHANISMS['none']} (none): it cannot be "
            "combined with another mechanism."
        )
    return codes


def transfer_warning(fields: Mapping[str, Any]) -> str | None:
    """Why an entry's transfers look unprotected, or None: a location outside the EEA and no
    mechanism but "none". A warning, not a refusal: lists are often fixed in steps, and a
    published list that says so must still import. The admin form, the API and ``import-list``
    all say it through this one function."""
    outside = [code for code in fields.get("locations") or [] if not in_eea(code)]
    mechanisms = set(mechanism_list(entry_fields(dict(fields)).get(_MECHANISM_FIELD)))
    if not outside or mechanisms - {"none"}:
        return None
    names = ", ".join(country_name(code) for code in outside)
    return (
        f"{fields.get('name') or 'This entry'} processes outside the EEA ({names}) but names no "
        "transfer mechanism for it: add the one that protects the transfer (e.g. Standard "
        "Contractual Clauses)."
    )


def _url(value: str, field: str, errors: dict[str, str]) -> str:
    if value and field not in errors:
        try:
            parts = urlsplit(value)
        except ValueError:  # an unbalanced "[" or "]" (an IPv6 literal's brackets)
            errors[field] = _address(field)
            return value
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors[field] = _address(field)
    return value


def _address(field: str) -> str:
    return f"Enter the {_label(field).lower()} as an address starting with https:// (or http://)."


def _which_country(typed: str) -> str:
    """The message for a name two countries go by: which ones, and to give the code instead."""
    named = " or ".join(f"{country_name(code)} ({code})" for code in ambiguous(typed))
    return f"The name {typed[:40]!r} could be {named}: enter the ISO code of the one you mean."


def _countries(data: Mapping[str, Any], errors: dict[str, str]) -> list[str]:
    """The codes of the processing locations, named by codes or names ("DE", "Germany", "USA")."""
    field = "locations"
    given = _items(data.get(field), field, errors)
    if field in errors:
        return []
    codes = [country_code(item) for item in given]
    unknown = [item for item, code in zip(given, codes, strict=True) if code is None]
    unclear = [item for item in unknown if ambiguous(item)]
    if unclear:
        errors[field] = _which_country(unclear[0])
    elif unknown:
        named = " and ".join(repr(item[:40]) for item in unknown[:5])
        errors[field] = (
            f"There is no country called {named}: enter a country's name, for example Germany, "
            "or its ISO code, for example DE."
        )
    elif not given:
        errors[field] = "Enter at least one processing location, for example Germany."
    return list(dict.fromkeys(code for code in codes if code))


def clean_processor(data: Mapping[str, Any], *, slug: str | None = None) -> dict[str, Any]:
    """Validate raw input into the canonical form, or raise ``ValidationError`` with every error.

    ``slug`` fixes the identifier (an update keeps its entry's); otherwise the input's ``id`` is
    used, or one is derived from the name.
    """
    if not isinstance(data, Mapping):
        raise ValidationError({"processor": "Give the processor's fields as an object."})
    errors: dict[str, str] = {}
    unknown = sorted(set(data) - set(FIELDS) - set(FORMER_FIELDS))
    if unknown:
        errors["fields"] = (
            "Remove the unknown field(s): " + ", ".join(str(key)[:40] for key in unknown[:10]) + "."
        )

    name = _text(data.get("name"), "name", True, errors)
    if slug is None:
        raw_id = _text(data.get("id"), "id", False, errors)
        slug = raw_id or slugify(name)
    if not _SLUG.match(slug) or len(slug) > 80:
        errors["id"] = "The identifier must be lowercase letters, digits and single hyphens (at most 80)."

    clean: dict[str, Any] = {"id": slug, "name": name}
    clean["legal_entity"] = _text(data.get("legal_entity"), "legal_entity", False, errors)
    clean["purpose"] = _text(data.get("purpose"), "purpose", True, errors)
    clean["data_categories"] = _items(data.get("data_categories"), "data_categories", errors)

    clean["locations"] = _countries(data, errors)

    corporate = _text(data.get("corporate_location"), "corporate_location", False, errors)
    if corporate and ambiguous(corporate) and "corporate_location" not in errors:
        errors["corporate_location"] = _which_country(corporate)
    elif corporate and country_code(corporate) is None and "corporate_location" not in errors:
        errors["corporate_location"] = (
            f"There is no country called {corporate[:40]!r}: enter the country where the company "
            "is based, for example United States, or its ISO code, for example US."
        )
    clean["corporate_location"] = country_code(corporate) or corporate.upper() if corporate else ""

    clean["transfer_mechanisms"] = _mechanisms(data, errors)

    given = _text(data.get("kind"), "kind", False, errors)
    kind = kind_code(given) if given else str(ProcessorKind.SUBPROCESSOR)
    if kind is None and "kind" not in errors:
        errors["kind"] = _unknown(given, "kind", KIND_LABELS)
    clean["kind"] = kind or ""

    clean["website"] = _url(_text(data.get("website"), "website", False, errors), "website", errors)
    clean["safeguards_url"] = _url(
        _text(data.get("safeguards_url"), "safeguards_url", False, errors), "safeguards_url", errors
    )
    clean["scope"] = _text(data.get("scope"), "scope", False, errors)

    since = _text(data.get("since"), "since", False, errors)
    if since:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError:
            errors["since"] = "Enter the date processing began as YYYY-MM-DD, for example 2024-01-31."
    clean["since"] = since or None

    if errors:
        raise ValidationError(errors)
    return clean


def field_value(field: str, value: Any) -> str:
    """A field's value as text, with codes replaced by what they mean."""
    if value is None or value == "" or value == []:
        return "—"
    if field == "locations":
        return ", ".join(country_name(code) for code in value)
    if field == "corporate_location":
        return country_name(value)
    if field == "kind":
        return KIND_LABELS.get(value, value)
    if field == "transfer_mechanisms":
        return ", ".join(TRANSFER_MECHANISMS.get(code, code) for code in value)
    if field == "since":
        return format_date(value)
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
