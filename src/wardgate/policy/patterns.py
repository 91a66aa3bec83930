"""The built-in detectors: for each, where to look (``scan``: numeric windows, or anchored at a word or character), the
regex of its candidates and the check that makes a candidate a finding (``checks``).

Labelled detectors (all PHI, and bare numbers that mean something only next to a label) match the label — a word
such as "MRN" or "date of birth", case-insensitively — and take the value right after it (``_LABEL_GAP`` allows
``:``, ``#``, ``is`` and the like in between). The label is not part of the finding, so a redacted text still says
what was there. ICD-10 codes may come in lists: after their label every code within ``ICD_WINDOW`` characters
counts, up to a blank line. Labels and values never span a blank line, so texts joined by one
(``messages.text_of_messages``) are read as apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from wardgate.policy.checks import card_valid, digits_of, iban_valid, ipv6_valid, npi_valid, ssn_valid
from wardgate.policy.scan import Detector, Span, TextView, Valid, anchored, chained, in_windows

PII = "pii"
PHI = "phi"
ICD_WINDOW = 80
_A = re.ASCII
_LABEL_GAP = r"[ \t:#=.\-]{0,4}(?:(?i:is|was|on|of|number|no\.?|id)[ \t:#]{1,3})?"
_PHONE_START = r"(?<![\w+.\-])"
_END = r"(?![\w]|[.\-][0-9])"
"""The end of a number: no letter, digit or underscore next, nor ``-7`` / ``.7`` continuing it."""


def _labelled(label: str, value: str) -> re.Pattern[str]:
    """A value right after its label (the label matched case-insensitively, as a whole word)."""
    return re.compile(rf"(?i:\b(?:{label}))(?![\w]){_LABEL_GAP}(?P<v>{value})", _A)


def _digits_between(low: int, high: int) -> Valid:
    def valid(match: re.Match[str]) -> bool:
        group = "v" if "v" in match.re.groupindex else 0
        return low <= len(digits_of(match.group(group))) <= high

    return valid


# --- PII ------------------------------------------------------------------------------------------------------

EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-]|\.[A-Za-z0-9])",
    _A,
)
PHONE_INTERNATIONAL = re.compile(
    rf"(?<![\w+])\+[1-9][0-9]{{0,2}}(?:[ .\-]?(?:\([0-9]{{1,4}}\)|[0-9]{{1,4}})){{2,6}}{_END}", _A
)
PHONE_NANP = re.compile(
    rf"{_PHONE_START}(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{{2}}\)[ ]?|[2-9][0-9]{{2}}[ .\-])"
    rf"[2-9][0-9]{{2}}[ .\-][0-9]{{4}}{_END}",
    _A,
)
PHONE_NATIONAL = re.compile(
    rf"{_PHONE_START}(?<![0-9][ .\-])0[1-9][0-9]{{0,3}}([ .\-])[0-9]{{2,6}}(?:\1[0-9]{{2,4}}){{0,4}}{_END}", _A
)
"""A national number (trunk prefix 0), not the tail of a longer run of digit groups (an account number)."""
PHONE_LABELLED = re.compile(
    r"(?i:\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|whatsapp|sms))(?![\w])[^0-9\n]{0,20}?"
    rf"(?P<v>\+?[0-9][0-9 ().\-]{{5,18}}[0-9]){_END}",
    _A,
)
PHONE_WORDS = ("phone", "tel", "mobile", "cell", "fax", "whatsapp", "sms")
SSN = re.compile(rf"(?<![\w.\-])([0-9]{{3}})([\- ])([0-9]{{2}})\2([0-9]{{4}}){_END}", _A)
SSN_LABELLED = _labelled(r"ssn|ss\#|social[ \t]+security(?:[ \t]+(?:number|no\.?|\#))?", rf"[0-9]{{9}}{_END}")
SSN_WORDS = ("ssn", "ss#", "social")
CARD = re.compile(rf"(?<![\w.\-])[0-9](?:[ \-]?[0-9]){{12,18}}{_END}", _A)
IPV4 = re.compile(r"[0-9][0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![\w]|\.[0-9])", _A)
IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:", _A)
IPV6_CHARS = frozenset("0123456789abcdefABCDEF:.")
IBAN_REACH = 40
"""How far an IBAN may reach before and after a run of digits in it (it has at most 34 characters and 8 spaces)."""
IBAN = re.compile(r"[A-Z][A-Z][0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])", _A)
TOKEN = re.compile(
    r"(?<![\w\-])(?:"
    r"sk-[A-Za-z0-9_\-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35}"
    r"|wgs?[\-_][A-Za-z0-9_\-]{40,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r")(?![\w\-])",
    _A,
)
TOKEN_PREFIXES = (
    "sk-", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "AIza", "wg-", "wgs_", "eyJ",
)  # fmt: skip
PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z ]*PRIVATE KEY-----|(?:[A-Za-z0-9+/=\s]|\\[nr])*)", _A
)
BEARER = re.compile(r"(?i:\bbearer)[ \t]+(?P<v>[A-Za-z0-9._~+/\-]{16,}=*)(?![\w\-])", _A)
ASSIGNED_SECRET = re.compile(
    r"(?i:\b(?:api[_\-]?key|api[_\-]?token|secret[_\-]?key|client[_\-]?secret|access[_\-]?token|auth[_\-]?token"
    r"|refresh[_\-]?token|password|passwd|pwd))[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?P<v>(?=[^\s\"'`,;(){}$]*[0-9])(?=[^\s\"'`,;(){}$]*[A-Za-z])[^\s\"'`,;(){}$]{8,})(?![^\s\"'`,;])",
    _A,
)
"""A value given to a secret-sounding name: eight or more characters with a letter and a digit, so that code
passing a variable (``api_key=MASTER_KEY``) or a placeholder (``${KEY}``) is not taken for a secret."""
ASSIGNED_PREFIXES = ("api", "secret", "client", "access", "auth", "refresh", "passw", "pwd")


def _email_spans(view: TextView) -> Iterator[Span]:
    """Each ``@`` and the address around it (a local part has at most 64 characters, a domain 253)."""
    text = view.text
    done = 0
    at = text.find("@")
    while at >= 0:
        if at >= done:
            match = EMAIL.search(text, max(done, at - 65), min(len(text), at + 256))
            if match is not None and match.start() <= at < match.end():
                done = match.end()
                yield match.span()
        at = text.find("@", at + 1)


def _ipv4_ok(match: re.Match[str]) -> bool:
    start = match.start()
    if start and (match.string[start - 1].isalnum() or match.string[start - 1] in "_."):
        return False
    octets = match.group().split(".")
    if octets[0] in ("0", "127", "255"):  # unspecified, loopback, broadcast: nobody's address
        return False
    return all(int(octet) <= 255 and (octet == "0" or octet[0] != "0") for octet in octets)


def _ipv6_spans(view: TextView) -> Iterator[Span]:
    """Around each ``:x:`` (every IPv6 address with three groups has one), the run of hex digits, colons and
    dots, if it is a valid address and stands alone."""
    text = view.text
    done = 0
    for hint in IPV6_HINT.finditer(text):
        if hint.start() < done:
            continue
        start, end = hint.start(), hint.end()
        while start > 0 and text[start - 1] in IPV6_CHARS:
            start -= 1
        while end < len(text) and text[end] in IPV6_CHARS:
            end += 1
        done = end
        start += len(text[start:end]) - len(text[start:end].lstrip("."))
        end -= len(text[start:end]) - len(text[start:end].rstrip("."))
        if (start and (text[start - 1].isalnum() or text[start - 1] == "_")) or (
            end < len(text) and (text[end].isalnum() or text[end] == "_")
        ):
            continue
        if ipv6_valid(text[start:end]):
            yield start, end


def _iban_ok(match: re.Match[str]) -> bool:
    start = match.start()
    if start and match.string[start - 1].isalnum():
        return False
    return iban_valid(match.group().replace(" ", ""))


def _ssn_ok(match: re.Match[str]) -> bool:
    return ssn_valid(match.group(1), match.group(3), match.group(4))


def _ssn_labelled_ok(match: re.Match[str]) -> bool:
    value = match.group("v")
    return ssn_valid(value[:3], value[3:5], value[5:])


def _card_ok(match: re.Match[str]) -> bool:
    return card_valid(digits_of(match.group()))


# --- PHI (each only next to its label) ---------------------------------------------------------------------------


def _id_value(shortest: int) -> str:
    """An identifier of letters, digits and dashes, at least ``shortest`` long, with at least four digits."""
    return rf"(?=[A-Za-z0-9\-]*(?:[0-9][A-Za-z\-]*){{4}})[A-Za-z0-9][A-Za-z0-9\-]{{{shortest - 1},19}}{_END}"


MRN = _labelled(
    r"mrn|medical[ \t]+record(?:[ \t]+(?:number|num|no\.?|\#|id))?"
    r"|patient[ \t]+(?:id|number|no\.?)|chart[ \t]+(?:number|no\.?)",
    _id_value(4),
)
MRN_WORDS = ("mrn", "medic", "patient", "chart")
PLAN_ID = _labelled(
    r"(?:member|subscriber|insurance|health[ \t]+plan|medicaid|medicare|beneficiary|insured)"
    r"[ \t]*(?:id|identifier|number|num|no\.?|\#|policy[ \t]+(?:number|no\.?))|mbi|hicn",
    _id_value(6),
)
PLAN_WORDS = ("member", "subscriber", "insur", "health", "medic", "beneficiary", "mbi", "hicn")
_MONTH = r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-](?:[0-9]{4}|[0-9]{2})"
    r"|[0-9]{4}[/.\-][0-9]{1,2}[/.\-][0-9]{1,2}"
    rf"|{_MONTH}[ \t]+[0-9]{{1,2}}(?:st|nd|rd|th)?,?[ \t]+[0-9]{{4}}"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH},?[ \t]+[0-9]{{4}}"
)
DOB = _labelled(
    r"dob|d\.o\.b\.?|date[ \t]+of[ \t]+birth|birth[ \t]*date|birthday|born(?:[ \t]+on)?", rf"(?:{_DATE}){_END}"
)
DOB_WORDS = ("dob", "d.o.b", "date", "birth", "born")
ICD_LABEL = re.compile(r"(?i:\b(?:icd(?:[ \-]?10(?:[ \-]?cm)?)?|diagnos(?:is|es|ed|e)|dx))(?![\w])", _A)
ICD_WORDS = ("icd", "diagnos", "dx")
ICD_CODE = re.compile(r"(?<![\w.])[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?(?![\w]|\.[0-9A-Z])", _A)
NPI = _labelled(r"npi|national[ \t]+provider[ \t]+(?:identifier|id|number)", rf"[12][0-9]{{9}}{_END}")
NPI_WORDS = ("npi", "national")


_icd_labels = anchored(ICD_WORDS, ICD_LABEL, fold=True)


def _icd_spans(view: TextView) -> Iterator[Span]:
    """Each ICD-10 code within ``ICD_WINDOW`` characters after a label, in the same paragraph."""
    text = view.text
    for _, end in _icd_labels(view):
        stop = min(len(text), end + ICD_WINDOW)
        blank = text.find("\n\n", end, stop)
        for code in ICD_CODE.finditer(text, end, stop if blank < 0 else blank):
            stop = code.end()
            if stop < len(text) and (text[stop].isalnum() or text[stop] == "_"):
                continue  # cut by the window, not the end of a code
            yield code.span()


def _npi_ok(match: re.Match[str]) -> bool:
    return npi_valid(match.group("v"))


DETECTORS: tuple[Detector, ...] = (
    Detector("secret", PII, frozenset({PII}), chained(
        anchored(TOKEN_PREFIXES, TOKEN, fold=False),
        anchored(("-----BEGIN",), PRIVATE_KEY, fold=False),
        anchored(("bearer",), BEARER, fold=True),
        anchored(ASSIGNED_PREFIXES, ASSIGNED_SECRET, fold=True),
    )),
    Detector("email", PII, frozenset({PII}), _email_spans),
    Detector("ssn", PII, frozenset({PII, PHI}), chained(
        in_windows((SSN, _ssn_ok, 9)),
        anchored(SSN_WORDS, SSN_LABELLED, _ssn_labelled_ok, fold=True),
    )),
    Detector("card", PII, frozenset({PII}), in_windows((CARD, _card_ok, 13))),
    Detector("phone", PII, frozenset({PII}), chained(
        in_windows(
            (PHONE_INTERNATIONAL, _digits_between(8, 15), 8),
            (PHONE_NANP, None, 10),
            (PHONE_NATIONAL, _digits_between(9, 11), 9),
        ),
        anchored(PHONE_WORDS, PHONE_LABELLED, _digits_between(7, 15), fold=True),
    )),
    Detector("ip_address", PII, frozenset({PII}), chained(in_windows((IPV4, _ipv4_ok, 4), short=True), _ipv6_spans)),
    Detector("iban", PII, frozenset({PII}), in_windows((IBAN, _iban_ok, 7), before=IBAN_REACH, after=IBAN_REACH)),
    Detector("mrn", PHI, frozenset({PHI}), anchored(MRN_WORDS, MRN, fold=True)),
    Detector("health_plan_id", PHI, frozenset({PHI}), anchored(PLAN_WORDS, PLAN_ID, fold=True)),
    Detector("dob", PHI, frozenset({PHI}), anchored(DOB_WORDS, DOB, fold=True)),
    Detector("icd10", PHI, frozenset({PHI}), _icd_spans),
    Detector("npi", PHI, frozenset({PHI}), anchored(NPI_WORDS, NPI, _npi_ok, fold=True)),
)  # fmt: skip
"""In order of priority: where two findings cover the same text, the earlier detector's kind names it."""
