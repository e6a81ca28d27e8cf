"""Mainland China phone numbers: normalise what people type, reject the rest.

Accepted after normalisation: a mobile ``1[3-9]XXXXXXXXX`` or a fixed line
with its area code ``0AA(A)NNNNNNN(N)``. Spaces, dashes, dots and
parentheses are dropped, full-width characters folded, and a ``+86``,
``0086`` or ``86`` country prefix removed (``86`` only in front of an
11-digit mobile, so a fixed line is never mangled). ``+86 10 12345678``
(area code without its trunk zero) becomes ``01012345678``.

The common case (11 ASCII digits) takes a fast path without regexes: this
runs once per contact row, a million times for a big list.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MOBILE_SECOND", "PHONE_RULE", "is_valid_phone", "normalize_phone"]

PHONE_RULE = "a mainland mobile 1[3-9]XXXXXXXXX or a fixed line with area code like 010-12345678"

MOBILE_SECOND = frozenset("3456789")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_FIXED = re.compile(r"0[1-9][0-9]{8,10}")
_DROP = str.maketrans(
    "", "", " \t\r\n\u00a0\u3000-.()\u2010\u2011\u2012\u2013\u2014\u2212\u30fc\uff0d\uff0e\uff08\uff09"
)


def normalize_phone(raw: str) -> str | None:
    """The normalised number, or None when ``raw`` is not a valid number."""
    if len(raw) == 11 and raw.isascii() and raw.isdigit():
        first = raw[0]
        if first == "1":
            return raw if raw[1] in MOBILE_SECOND else None
        if first == "0":
            return raw if raw[1] != "0" else None
        return None
    return _normalize_slow(raw)


def _normalize_slow(raw: str) -> str | None:
    text = (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()
    if text.endswith(".0") and text[:-2].isascii() and text[:-2].isdigit():
        text = text[:-2]  # a number that went through a spreadsheet float
    text = text.translate(_DROP)
    international = False
    if text.startswith("+"):
        if not text.startswith("+86"):
            return None  # a foreign number
        text, international = text[3:], True
    elif text.startswith("0086"):
        text, international = text[4:], True
    elif len(text) == 13 and text.startswith("861") and text[3] in MOBILE_SECOND:
        text = text[2:]
    if not (text.isascii() and text.isdigit()):
        return None
    if _MOBILE.fullmatch(text) or _FIXED.fullmatch(text):
        return text
    if international and _FIXED.fullmatch("0" + text):
        return "0" + text
    return None


def is_valid_phone(number: str) -> bool:
    """True for an already normalised number."""
    return bool(_MOBILE.fullmatch(number) or _FIXED.fullmatch(number))
