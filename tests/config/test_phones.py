"""Phone normalisation: what people type in spreadsheets → one canonical number."""

from __future__ import annotations

import pytest

from reconciler.config.phones import is_valid_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13912345678", "13912345678"),
        ("19900000001", "19900000001"),
        ("139 1234 5678", "13912345678"),
        ("139-1234-5678", "13912345678"),
        ("(139)1234.5678", "13912345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("+86-13912345678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("0086 139 1234 5678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("  13912345678  ", "13912345678"),
        ("１３９１２３４５６７８", "13912345678"),  # full-width digits
        ("139\u30001234\u30005678", "13912345678"),  # ideographic spaces
        ("13912345678.0", "13912345678"),  # went through a spreadsheet float
        ("010-12345678", "01012345678"),
        ("0551-69101407", "055169101407"),
        ("(0551) 6910 1407", "055169101407"),
        ("055169101407", "055169101407"),
        ("+86 10 12345678", "01012345678"),  # international form drops the trunk zero
        ("+86 551 69101407", "055169101407"),
        ("0086 010 12345678", "01012345678"),
    ],
)
def test_normalises_valid_numbers(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected
    assert is_valid_phone(expected)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "12345678901",  # mobile must be 1[3-9]
        "11912345678",
        "1391234567",  # 10 digits
        "139123456789",  # 12 digits
        "00551691014",  # 00 is not an area code
        "+1 415 555 0100",  # foreign
        "+8613912345",
        "86139123456",  # 86 + 9 digits is not a prefixed mobile
        "1.3912345678E+10",  # precision lost in a spreadsheet
        "139abc45678",
        "٣٩١٢٣٤٥٦٧٨١",  # non-ASCII digits that are not full-width forms
        "95555",
        "4008123123",
        "0551-69101407-123",  # extension
    ],
)
def test_rejects_invalid_numbers(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_fast_path_needs_ascii_digits() -> None:
    # str.isdigit accepts other scripts' digits; those must not pass unchanged
    assert normalize_phone("1٣912345678") is None
