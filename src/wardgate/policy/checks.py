"""Checksums and validity rules that turn a regex candidate into a finding: Luhn (payment cards, NPI), ISO 13616
mod-97 (IBAN, with each country's length), the SSA's US Social Security number rules, IPv6 syntax."""

from __future__ import annotations

import ipaddress

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""The IBAN registry's length per country code."""

CARD_FIRST_DIGITS = frozenset("23456")
"""Issuer ranges in use for payment cards: 2 (Mastercard 2-series, Mir), 3 (Amex, Diners, JCB), 4 (Visa),
5 (Mastercard, Maestro), 6 (Discover, UnionPay, Maestro, RuPay)."""


def digits_of(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_valid(digits: str) -> bool:
    """13 to 19 digits, a known issuer's first digit, Luhn-valid, and not one digit repeated."""
    return 13 <= len(digits) <= 19 and digits[0] in CARD_FIRST_DIGITS and len(set(digits)) > 1 and luhn_valid(digits)


def npi_valid(digits: str) -> bool:
    """A US National Provider Identifier: 10 digits starting 1 or 2, Luhn-valid behind the 80840 card prefix."""
    return len(digits) == 10 and digits[0] in "12" and luhn_valid("80840" + digits)


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """Area 001 to 899 except 666, group 01 to 99, serial 0001 to 9999 (numbers the SSA never issues are not SSNs)."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def iban_valid(compact: str) -> bool:
    """Country code with its registered length, then ISO 7064 mod 97 = 1."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def ipv6_valid(candidate: str) -> bool:
    """Valid IPv6 syntax with at least three non-empty groups, an embedded IPv4 address counting as two (``::1``,
    ``a::b`` and ``std::max`` are not addresses worth redacting, or not addresses at all)."""
    if sum(2 if "." in part else 1 for part in candidate.split(":") if part) < 3:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True
