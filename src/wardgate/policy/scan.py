"""How detectors look at a text without running every regex over every character.

Three ways, each much cheaper than a regex search of the whole text:

- **numeric windows**: one pass finds the clusters of seven or more digits (``TextView.windows``); number-shaped
  detectors (card, SSN, phone) search only a few characters around each cluster.
- **anchored**: a detector that starts with a known word or prefix (a label such as ``MRN``, a token prefix such
  as ``sk-``) finds that word with ``str.find`` and tries its regex only there (``Pattern.match`` at that index;
  look-behinds still see the text before it).
- the rest start from a character (``@`` of an email address, ``:x:`` of an IPv6 address) found the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Span = tuple[int, int]
Valid = Callable[[re.Match[str]], bool]
_CLUSTER = re.compile(r"[0-9](?:[ \t().:/+\-]{0,3}[0-9]){3,}", re.ASCII)
_NOT_DIGITS = str.maketrans("", "", " \t().:/+-")
LONG = 7
"""Digits a cluster needs for the number-shaped detectors but IPv4 (``TextView.windows``)."""
_BEFORE = 4
"""Characters before a cluster a number may start with (``+1 (`` of a phone number)."""
_AFTER = 2
"""Characters after a cluster a pattern's look-ahead must see (``-7`` continuing a number)."""


class TextView:
    """One text and what the detectors ask about it, each computed at most once."""

    __slots__ = ("_clusters", "_lower", "_windows", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._clusters: list[tuple[int, int, int]] | None = None
        self._windows: list[tuple[int, int, int]] | None = None

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    @property
    def clusters(self) -> list[tuple[int, int, int]]:
        """(start, end, digits) of each cluster of four or more digits separated by at most three of
        ``space tab ( ) . : / + -``."""
        if self._clusters is None:
            self._clusters = [
                (m.start(), m.end(), len(m.group().translate(_NOT_DIGITS))) for m in _CLUSTER.finditer(self.text)
            ]
        return self._clusters

    @property
    def windows(self) -> list[tuple[int, int, int]]:
        """(start, end, digits) of the clusters of ``LONG`` or more digits, widened by a few characters each
        side."""
        if self._windows is None:
            size = len(self.text)
            self._windows = [
                (max(0, start - _BEFORE), min(size, end + _AFTER), digits)
                for start, end, digits in self.clusters
                if digits >= LONG
            ]
        return self._windows

    def has_any(self, words: tuple[str, ...]) -> bool:
        lower = self.lower
        return any(word in lower for word in words)


Scan = Callable[[TextView], Iterator[Span]]


@dataclass(frozen=True, slots=True)
class Detector:
    kind: str
    """What was found, e.g. ``email``; its placeholder is ``[REDACTED:EMAIL]``."""
    category: str
    """``pii`` or ``phi``."""
    flags: frozenset[str]
    """The classifications a finding raises (an SSN raises both ``pii`` and ``phi``)."""
    scan: Scan


def _span(match: re.Match[str]) -> Span:
    """The ``v`` group when the pattern has one and it took part, else the whole match."""
    if "v" in match.re.groupindex and match.start("v") >= 0:
        return match.span("v")
    return match.span()


def in_windows(
    *patterns: tuple[re.Pattern[str], Valid | None, int], short: bool = False, before: int = 0, after: int = 0
) -> Scan:
    """Valid matches of each (pattern, check, fewest digits) inside the numeric windows that have at least that
    many digits (``short``: around every cluster of four or more digits rather than ``LONG``), widened by
    ``before`` and ``after`` more characters."""

    def scan(view: TextView) -> Iterator[Span]:
        text = view.text
        size = len(text)
        if short:
            windows = [(max(0, a - _BEFORE), min(size, b + _AFTER), digits) for a, b, digits in view.clusters]
        else:
            windows = view.windows
        for start, end, digits in windows:
            if before or after:
                start, end = max(0, start - before), min(size, end + after)
            for pattern, valid, fewest in patterns:
                if digits < fewest:
                    continue
                for match in _search(pattern, text, start, end, valid):
                    yield _span(match)

    return scan


def _search(pattern: re.Pattern[str], text: str, start: int, end: int, valid: Valid | None) -> Iterator[re.Match[str]]:
    """Like ``finditer``, but a match its check refuses does not hide what it overlaps: the same start is tried
    again ending at each earlier space (a number followed by more digit groups), then the search goes on from
    the next character (a number preceded by more digits)."""
    pos = start
    while pos < end:
        match = pattern.search(text, pos, end)
        if match is None:
            return
        found = match if valid is None or valid(match) else _shorter(pattern, match, valid)
        if found is not None:
            yield found
            pos = max(found.end(), found.start() + 1)
        else:
            pos = match.start() + 1


def _shorter(pattern: re.Pattern[str], match: re.Match[str], valid: Valid) -> re.Match[str] | None:
    """The longest valid match from the same start that ends before a space inside ``match``. Ending the search
    there is sound: a space is no word character, so every pattern's look-ahead accepts it as an end."""
    text, first = match.string, match.start()
    for cut in range(match.end() - 1, first, -1):
        if text[cut] == " " and text[cut - 1] != " ":
            shorter = pattern.match(text, first, cut)
            if shorter is not None and shorter.end() == cut and valid(shorter):
                return shorter
    return None


def anchored(prefixes: tuple[str, ...], pattern: re.Pattern[str], valid: Valid | None = None, *, fold: bool) -> Scan:
    """Valid matches of ``pattern`` where one of ``prefixes`` occurs; ``fold``: look for the prefixes (lower-case)
    in the lower-cased text (the pattern must then match case-insensitively)."""

    def scan(view: TextView) -> Iterator[Span]:
        text = view.text
        hay = view.lower if fold else text
        if len(hay) != len(text):  # lower-casing changed the length (rare non-ASCII): search the whole text
            for match in pattern.finditer(text):
                if valid is None or valid(match):
                    yield _span(match)
            return
        for prefix in prefixes:
            index = hay.find(prefix)
            while index >= 0:
                found = pattern.match(text, index)
                if found is not None and valid is not None and not valid(found):
                    found = _shorter(pattern, found, valid)
                if found is not None:
                    yield _span(found)
                index = hay.find(prefix, index + 1)

    return scan


def chained(*scans: Scan) -> Scan:
    def scan(view: TextView) -> Iterator[Span]:
        for each in scans:
            yield from each(view)

    return scan
