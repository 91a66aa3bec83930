"""Content detection: ``find`` (every finding, in text order), ``classify`` (which of ``pii`` / ``phi`` a text
raises, stopping at the first finding of each) and ``redact`` (each finding replaced by ``[REDACTED:KIND]``).

A text raises ``phi`` when one of these fires: ``mrn``, ``health_plan_id``, ``dob``, ``icd10``, ``npi`` (each only
next to its label) or ``ssn``. It raises ``pii`` when one of these fires: ``email``, ``phone``, ``ssn``, ``card``,
``ip_address``, ``iban``, ``secret``. The detectors are in ``patterns``; their checksums in ``checks``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from wardgate.policy.patterns import DETECTORS, PHI, PII
from wardgate.policy.scan import Detector, TextView

FLAGS = frozenset({PII, PHI})
KINDS = tuple(dict.fromkeys(d.kind for d in DETECTORS))
"""Every kind a finding can have."""
PHI_KINDS = tuple(dict.fromkeys(d.kind for d in DETECTORS if PHI in d.flags))
PII_KINDS = tuple(dict.fromkeys(d.kind for d in DETECTORS if PII in d.flags))
MAX_PASSES = 8


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    """e.g. ``email``, ``card``, ``mrn`` (``KINDS``)."""
    category: str
    """``pii`` or ``phi``."""
    start: int
    end: int
    """``text[start:end]`` is the value found (without its label)."""


def classify(text: str, kinds: Collection[str]) -> frozenset[str]:
    """The flags among ``kinds`` (``pii``, ``phi``; others are ignored) that ``text`` raises."""
    wanted = FLAGS.intersection(kinds)
    if not text or not wanted:
        return frozenset()
    view = TextView(text)
    found: set[str] = set()
    for detector in DETECTORS:
        useful = detector.flags & wanted
        if not useful or useful <= found:
            continue
        if next(detector.scan(view), None) is not None:
            found |= useful
            if found == wanted:
                break
    return frozenset(found)


def find(text: str) -> list[Finding]:
    """Every finding in ``text``, by position; a finding inside another one (or the same text found twice) is
    dropped, so the list names each value once. Partly overlapping findings are both kept."""
    if not text:
        return []
    view = TextView(text)
    raw: list[tuple[int, int, int, Detector]] = []
    for rank, detector in enumerate(DETECTORS):
        raw.extend((start, end, rank, detector) for start, end in detector.scan(view) if end > start)
    raw.sort(key=lambda item: (item[0], -item[1], item[2]))
    findings: list[Finding] = []
    reach = -1
    for start, end, _, detector in raw:
        if end <= reach:
            continue
        findings.append(Finding(detector.kind, detector.category, start, end))
        reach = end
    return findings


def redact(text: str) -> str:
    """``text`` with every finding replaced by ``[REDACTED:KIND]`` (overlapping findings become one placeholder,
    named by the first). Repeated until nothing is found: a value can stand out only once its neighbour is gone
    (a national phone number right after another number reads as the tail of one long number until that number
    is replaced); placeholders hold no digits and match no detector, so this ends, almost always after one or
    two passes."""
    for _ in range(MAX_PASSES):
        findings = find(text)
        if not findings:
            return text
        text = _replace(text, findings)
    return text


def _replace(text: str, findings: list[Finding]) -> str:
    parts: list[str] = []
    cursor = 0
    reach = 0
    for finding in findings:
        if finding.start < reach:  # overlaps the previous placeholder: extend it
            reach = max(reach, finding.end)
            cursor = reach
            continue
        parts.append(text[cursor : finding.start])
        parts.append(placeholder(finding.kind))
        cursor = reach = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind.upper()}]"
