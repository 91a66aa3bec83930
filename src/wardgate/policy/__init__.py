"""Content policy. Owns content detection and redaction: built-in regex and checksum detectors for personal data
(PII: email, phone, SSN, payment card, IP address, IBAN, secrets) and health data (PHI: medical record numbers,
health plan ids, dates of birth, ICD-10 codes, NPIs — each next to its label — and SSNs), ``classify`` for the
request path (flags ``pii`` / ``phi``), ``find``, ``redact`` and their chat-payload forms (``messages``). The
policy engine will grow here. Pure: no downloads, no models, no I/O. Must not import ``api``, ``routing`` or
``storage``.
"""

from wardgate.policy.detect import FLAGS, KINDS, PHI_KINDS, PII_KINDS, Finding, classify, find, redact
from wardgate.policy.messages import redact_messages, text_of_messages

__all__ = [
    "FLAGS",
    "KINDS",
    "PHI_KINDS",
    "PII_KINDS",
    "Finding",
    "classify",
    "find",
    "redact",
    "redact_messages",
    "text_of_messages",
]
