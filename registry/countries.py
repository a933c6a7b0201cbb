"""ISO 3166-1 alpha-2 codes and the names shown to readers."""

from __future__ import annotations

import re
import unicodedata
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


# Names people type that ISO does not give: short forms, old names, abbreviations.
_ALIASES: dict[str, str] = {
    "USA": "US",
    "U.S.": "US",
    "U.S.A.": "US",
    "America": "US",
    "UK": "GB",
    "U.K.": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "Holland": "NL",
    "The Netherlands": "NL",
    "Czech Republic": "CZ",
    "Turkey": "TR",
    "Russia": "RU",
    "Korea": "KR",
    "Republic of Korea": "KR",
    "Vatican": "VA",
    "Vatican City": "VA",
    "Ivory Coast": "CI",
    "Macedonia": "MK",
    "Swaziland": "SZ",
    "Burma": "MM",
    "UAE": "AE",
    "Emirates": "AE",
    "EU": "EU",
    "EEA": "EU",
    "Democratic Republic of the Congo": "CD",
    "DR Congo": "CD",
    "DRC": "CD",
    "Congo-Kinshasa": "CD",
    "Congo-Brazzaville": "CG",
}

# Names that two countries go by: read as either, a list would state a transfer to the wrong
# one, so they are refused and the person is asked for the code. (ISO's short name for CG is
# "Congo", but so is the one most people mean by it for CD.)
_AMBIGUOUS: dict[str, tuple[str, ...]] = {"Congo": ("CG", "CD"), "The Congo": ("CG", "CD")}


def _fold(text: str) -> str:
    """A name as compared: accents, case, punctuation and spacing ignored ("Côte d'Ivoire" is
    "cotedivoire").

    Only accents are dropped, never letters: a letter that is not Latin once its accent is off
    (a Cyrillic "а" that looks like "a") keeps the name from matching. Dropped, it would make
    "Niger" of a "Nigeria" typed with a Cyrillic "ia", and store the wrong country.
    """
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    folded = re.sub(r"[\W_]+", "", plain.lower())
    return folded if folded.isascii() else ""


@cache
def _by_name() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for country in pycountry.countries:
        for name in (
            country.name,
            getattr(country, "common_name", ""),
            getattr(country, "official_name", ""),
        ):
            if _fold(name):
                lookup.setdefault(_fold(name), country.alpha_2)
    for code, name in _names().items():
        lookup[_fold(name)] = code
    lookup.update({_fold(alias): code for alias, code in _ALIASES.items()})
    return lookup


def country_code(text: str) -> str | None:
    """The ISO 3166-1 alpha-2 code a code or a name stands for ("de", "Germany", "USA",
    "United States of America", "cote d'ivoire"), or None.

    The one place a country is read from text: the admin forms, the API and ``import-list`` all
    reach it through ``fields.clean_processor``.
    """
    text = text.strip()
    if len(text) == 2 and text.isascii() and text.upper() in _names():
        return text.upper()
    folded = _fold(text)
    if not folded or ambiguous(text):
        return None
    return _by_name().get(folded)


def ambiguous(text: str) -> tuple[str, ...]:
    """The codes of the countries that ``text`` could name, when it could name more than one."""
    return _ambiguous().get(_fold(text.strip()), ())


@cache
def _ambiguous() -> dict[str, tuple[str, ...]]:
    return {_fold(name): codes for name, codes in _AMBIGUOUS.items()}


def all_countries() -> list[tuple[str, str]]:
    """(code, name) pairs sorted by name, for filters and forms."""
    return sorted(_names().items(), key=lambda pair: pair[1])
