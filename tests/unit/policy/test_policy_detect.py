"""The built-in detectors one by one: values they must find (with the exact span) and look-alikes they must not
(checksums that fail, numbers the SSA never issues, numbers without the label that gives them meaning), then
``classify`` (which flags each detector raises, ``kinds`` limiting the work), ``find`` ordering and overlaps,
``redact`` placeholders and the checksum helpers."""

from __future__ import annotations

import pytest

from wardgate.policy import KINDS, PHI_KINDS, PII_KINDS, Finding, classify, find, redact
from wardgate.policy.checks import iban_valid, luhn_valid, npi_valid, ssn_valid


def _luhn_complete(prefix: str) -> str:
    return next(prefix + str(d) for d in range(10) if luhn_valid(prefix + str(d)))


NINETEEN = _luhn_complete("601100099013942412")
"""A 19-digit number in the Discover range with a valid check digit."""

# (kind, text, the value that must be found)
POSITIVES = [
    ("email", "write to jane.doe+tag@example.co.uk today", "jane.doe+tag@example.co.uk"),
    ("email", "(ops@sub.example.com)", "ops@sub.example.com"),
    ("phone", "call +1 (415) 555-2671 now", "+1 (415) 555-2671"),
    ("phone", "E.164: +14155552671.", "+14155552671"),
    ("phone", "office 415-555-2671", "415-555-2671"),
    ("phone", "office (415) 555-2671", "(415) 555-2671"),
    ("phone", "office 415.555.2671", "415.555.2671"),
    ("phone", "toll free 1-800-555-1234", "1-800-555-1234"),
    ("phone", "London +44 20 7946 0958", "+44 20 7946 0958"),
    ("phone", "London 020 7946 0958", "020 7946 0958"),
    ("phone", "Paris 01 23 45 67 89", "01 23 45 67 89"),
    ("phone", "Phone: 4155552671", "4155552671"),
    ("phone", "mobile number is 07700900123", "07700900123"),
    ("ssn", "SSN 123-45-6789 on file", "123-45-6789"),
    ("ssn", "ssn 123 45 6789", "123 45 6789"),
    ("ssn", "social security number: 123456789", "123456789"),
    ("card", "visa 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    ("card", "mc 5555-5555-5555-4444.", "5555-5555-5555-4444"),
    ("card", "amex 378282246310005", "378282246310005"),
    ("card", f"19 digits {NINETEEN} ok", NINETEEN),
    ("ip_address", "from 203.0.113.7, then", "203.0.113.7"),
    ("ip_address", "host 10.0.0.1.", "10.0.0.1"),
    ("ip_address", "v6 2001:db8:85a3::8a2e:370:7334 up", "2001:db8:85a3::8a2e:370:7334"),
    ("ip_address", "v6 2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:0db8:0000:0000:0000:ff00:0042:8329"),
    ("ip_address", "mapped ::ffff:192.0.2.128 here", "::ffff:192.0.2.128"),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"),
    ("iban", "pay GB82WEST12345698765432.", "GB82WEST12345698765432"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("secret", "key sk-proj-Abc123Def456Ghi789Jkl012 works", "sk-proj-Abc123Def456Ghi789Jkl012"),
    ("secret", "anthropic sk-ant-api03-AAAAbbbbCCCCddddEEEE1234", "sk-ant-api03-AAAAbbbbCCCCddddEEEE1234"),
    ("secret", "aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abcdef", "eyJhbGciOiJIUzI1NiJ9abcdef"),
    ("secret", "gh ghp_0123456789abcdefghijABCDEFGHIJklmnop", "ghp_0123456789abcdefghijABCDEFGHIJklmnop"),
    ("secret", "wardgate wg-" + "A1b2C3d4" * 5 + "xyz", "wg-" + "A1b2C3d4" * 5 + "xyz"),
    ("secret", 'config: {"api_key": "abcd1234efgh"}', "abcd1234efgh"),
    ("secret", "PASSWORD=hunter2hunter2", "hunter2hunter2"),
    (
        "secret",
        "k = '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----' ok",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----",
    ),
    ("secret", "cut: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN"),
    ("mrn", "Patient MRN: 00456789, seen", "00456789"),
    ("mrn", "medical record number 4456721", "4456721"),
    ("mrn", "MRN#A-1234567", "A-1234567"),
    ("mrn", "patient id is 88231190", "88231190"),
    ("health_plan_id", "Member ID: XYZ123456789", "XYZ123456789"),
    ("health_plan_id", "medicare number 1EG4-TE5-MK73", "1EG4-TE5-MK73"),
    ("health_plan_id", "insurance policy number W12345678", "W12345678"),
    ("dob", "DOB: 03/14/1962", "03/14/1962"),
    ("dob", "date of birth is 1962-03-14.", "1962-03-14"),
    ("dob", "born on March 14, 1962 in Ohio", "March 14, 1962"),
    ("dob", "D.O.B. 14 Mar 1962", "14 Mar 1962"),
    ("icd10", "Diagnosis: E11.9 (type 2 diabetes)", "E11.9"),
    ("icd10", "ICD-10 code J45.909 recorded", "J45.909"),
    ("icd10", "dx U07.1", "U07.1"),
    ("npi", "NPI 1234567893 (Dr. Who)", "1234567893"),
    ("npi", "National Provider Identifier: 1245319599", "1245319599"),
]


NEGATIVES = [
    ("email", "decorator @property and user@localhost"),
    ("email", "not@an-address"),
    ("phone", "order 4155552671 shipped"),  # ten digits, no separators, no label
    ("phone", "build 20261130 and 2026-11-30 10:30:00"),
    ("phone", "see 01.02.2024 10"),  # a date, not a phone number
    ("phone", "+12 34"),  # too few digits
    ("ssn", "SSN 000-12-3456"),  # area 000
    ("ssn", "SSN 666-12-3456"),  # area 666
    ("ssn", "SSN 912-12-3456"),  # area 9xx
    ("ssn", "SSN 123-00-4567"),  # group 00
    ("ssn", "SSN 123-45-0000"),  # serial 0000
    ("ssn", "part 123-45 6789"),  # mixed separators
    ("ssn", "id 123456789 (no label)"),
    ("card", "card 4111 1111 1111 1112"),  # Luhn-invalid
    ("card", "ts 1700000000000 and 1234567890123456"),  # first digit outside issuer ranges
    ("card", "zero 0000 0000 0000 0000"),
    ("card", "uuid 12345678-1234-1234-1234-123456789012"),
    ("ip_address", "version 1.2.3.400 and 256.1.1.1"),
    ("ip_address", "loopback 127.0.0.1 and 0.0.0.0"),
    ("ip_address", "C++ std::vector and a::b, time 10:30:00, ::1"),
    ("ip_address", "v1.2.3.4"),
    ("iban", "GB82WEST12345698765433 and DE89 3704 0044 0532 0130 02"),  # mod-97 fails
    ("iban", "ZZ89 3704 0044 0532 0130 00"),  # no such country
    ("iban", "DE89 3704 0044 0532 0130"),  # wrong length for DE
    ("secret", "sk-learn and sk-short and AKIA1234"),
    ("secret", "api_key=MASTER_KEY, password: ${DB_PASSWORD}, token: <|endoftext|>"),
    ("secret", "Bearer token"),
    ("mrn", "MRN field, 12345678 rows"),  # the value is not next to the label
    ("mrn", "mrn: 123"),  # too few digits
    ("health_plan_id", "membership 12345678 and member ID: ABC"),
    ("dob", "03/14/1962 without a label; born in 1962"),
    ("icd10", "E11.9 without a label, and run diagnostics on the A10 server"),
    ("npi", "NPI 1234567890"),  # Luhn-invalid with the 80840 prefix
    ("npi", "1234567893 without the label"),
]


def _values(text: str, kind: str) -> list[str]:
    return [text[f.start : f.end] for f in find(text) if f.kind == kind]


@pytest.mark.parametrize(("kind", "text", "value"), POSITIVES, ids=[f"{k}:{v}"[:60] for k, _, v in POSITIVES])
def test_detector_finds(kind: str, text: str, value: str) -> None:
    assert value in _values(text, kind), [(f, text[f.start : f.end]) for f in find(text)]


@pytest.mark.parametrize(("kind", "text"), NEGATIVES, ids=[f"{k}:{t}"[:60] for k, t in NEGATIVES])
def test_detector_ignores(kind: str, text: str) -> None:
    assert _values(text, kind) == []


def test_every_kind_is_tested_both_ways() -> None:
    assert {k for k, _, _ in POSITIVES} == set(KINDS)
    assert {k for k, _ in NEGATIVES} == set(KINDS)


def test_negative_texts_raise_no_flag_of_their_own_kind() -> None:
    """Look-alikes of one kind must not be found as another kind either (a Luhn-invalid card is not a phone)."""
    quiet = [text for _, text in NEGATIVES if "@localhost" not in text]
    noisy = {text: [f.kind for f in find(text)] for text in quiet if find(text)}
    assert noisy == {}


@pytest.mark.parametrize(
    ("text", "flags"),
    [
        ("Contact jane@example.com", {"pii"}),
        ("MRN: 00456789", {"phi"}),
        ("SSN 123-45-6789", {"pii", "phi"}),  # an SSN is both
        ("DOB: 03/14/1962, card 4111 1111 1111 1111", {"pii", "phi"}),
        ("Nothing sensitive here, just 42 apples and version 3.11.", set()),
        ("", set()),
    ],
)
def test_classify_flags(text: str, flags: set[str]) -> None:
    assert classify(text, ("pii", "phi")) == frozenset(flags)


def test_classify_checks_only_the_kinds_asked() -> None:
    text = "MRN: 00456789 and jane@example.com"
    assert classify(text, ("phi",)) == {"phi"}
    assert classify(text, ["pii"]) == {"pii"}
    assert classify(text, ()) == frozenset()
    assert classify(text, {"unknown"}) == frozenset()


def test_phi_and_pii_kinds_are_documented() -> None:
    assert set(PHI_KINDS) == {"ssn", "mrn", "health_plan_id", "dob", "icd10", "npi"}
    assert set(PII_KINDS) == {"secret", "email", "ssn", "card", "phone", "ip_address", "iban"}


def test_find_orders_and_keeps_each_value_once() -> None:
    text = "b@example.com then 4111 1111 1111 1111 then a@example.com"
    found = find(text)
    assert [f.kind for f in found] == ["email", "card", "email"]
    assert found == sorted(found, key=lambda f: f.start)
    assert found[1] == Finding("card", "pii", 19, 38)


def test_find_reports_a_label_free_span() -> None:
    text = "MRN: 00456789"
    (finding,) = find(text)
    assert (finding.kind, finding.category, text[finding.start : finding.end]) == ("mrn", "phi", "00456789")


def test_icd_codes_in_a_list_after_one_label() -> None:
    text = "Diagnoses: E11.9, I10 and J45.909; unrelated words later. " + "x" * 100 + " K21.9"
    assert _values(text, "icd10") == ["E11.9", "I10", "J45.909"]


def test_redact_replaces_each_value_with_its_placeholder() -> None:
    text = "Mail jane@example.com, MRN: 00456789, card 4111-1111-1111-1111."
    assert redact(text) == "Mail [REDACTED:EMAIL], MRN: [REDACTED:MRN], card [REDACTED:CARD]."


def test_redact_returns_clean_text_unchanged() -> None:
    text = "Summarise the meeting notes from Tuesday."
    assert redact(text) is text


def test_non_ascii_text_that_lower_cases_to_another_length() -> None:
    """``İ`` lower-cases to two characters: labels are still found at the right place."""
    text = "İİİ MRN: 00456789 İ"
    assert _values(text, "mrn") == ["00456789"]
    assert redact(text) == "İİİ MRN: [REDACTED:MRN] İ"


@pytest.mark.parametrize(
    ("digits", "valid"),
    [("4111111111111111", True), ("4111111111111112", False), ("79927398713", True), ("0", True)],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_checksum_helpers() -> None:
    assert npi_valid("1234567893") and not npi_valid("1234567890") and not npi_valid("3234567893")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert ssn_valid("123", "45", "6789") and not ssn_valid("900", "45", "6789")
