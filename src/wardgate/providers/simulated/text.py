"""Text toolkit of the simulated provider: token estimates, stream tokenisation, topic extraction from a
user message, and the built-in sentence corpus that turns a topic into a few plausible English sentences.

Everything here is pure and deterministic: randomness comes only from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Topic",
    "compose_sentences",
    "estimate_tokens",
    "extract_topic",
    "split_tokens",
    "words_of",
]

_TOKEN_RE = re.compile(r"\s*(?:\w+|[^\w\s]+)|\s+")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*|\d+(?:\.\d+)?")
_GREETING_RE = re.compile(r"^\W*(hi|hello|hey|howdy|good (morning|afternoon|evening)|greetings)\b", re.I)

# Function words and conversational filler that never make a good topic.
_STOPWORD_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each either else ever every few for from further get gets give go going got had has have having he
    her here hers herself him himself his how however i if in into is isn't it it's its itself just know let
    let's like make me might more most much must my myself need no nor not now of off on once only or other
    our ours ourselves out over own please really same say see she should so some such tell than thank thanks
    that that's the their theirs them themselves then there these they this those through to too under until
    up use using very want was we well were what what's when where which while who whom why will with would
    you your yours yourself yourselves hi hello hey explain describe show write give help something things
    thing way ways someone anyone okay ok yes yeah sure maybe lot lots kind sort list find create
    generate summarize summarise compare suggest recommend provide simply quickly briefly easily clearly
    exactly actually basically currently recently short brief detailed best good great new many
    """
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_OPENINGS: tuple[str, ...] = (
    "Good question about {topic}.",
    "Here is a short overview of {topic}.",
    "Let's look at {topic} step by step.",
    "Questions about {topic} come up often, so here is a quick summary.",
    "There are a few things worth knowing about {topic}.",
    "Sure, I can help with {topic}.",
)
_BODIES: tuple[str, ...] = (
    "The key idea is that, with {topic}, {other} matters more than most people expect.",
    "In practice, {other} tends to matter most when you first approach {topic}.",
    "A common approach is to start small, check the results, and adjust {other} as you go.",
    "Most sources agree that the basics of {topic} are worth keeping simple.",
    "One useful way to think about {other} is as a trade-off between speed and accuracy.",
    "It also helps to compare a couple of options before settling on one.",
    "Keep in mind that details such as {other} can change the outcome noticeably.",
    "If you are just getting started, focus on {topic} first and leave {other} for later.",
    "Experienced people usually write down what they tried, so it is easy to repeat what worked.",
    "The trickiest part is often {other}, so give it a little extra attention.",
    "A small, concrete example usually makes {topic} much easier to reason about.",
    "When something goes wrong, checking {other} first will save you time.",
)
_CLOSINGS: tuple[str, ...] = (
    "Let me know if you would like more detail on any of these points.",
    "I hope this helps you get started with {topic}.",
    "Feel free to ask a follow-up question about {other}.",
    "Happy to go deeper into {topic} if that would be useful.",
)
_GREETINGS: tuple[str, ...] = (
    "Hello! How can I help you today?",
    "Hi there! What would you like to talk about?",
    "Hey! I'm happy to help with whatever you have in mind.",
)
_CAPABILITIES: tuple[str, ...] = (
    "I can answer questions, draft and edit text, or help you think through a problem.",
    "Ask me anything, from a quick fact to a step-by-step plan.",
    "Just let me know what you have in mind and we can take it from there.",
)
_FALLBACK_TOPIC = "this topic"
_FALLBACK_OTHER = ("the details", "the context", "your goals", "the constraints")


def estimate_tokens(text: str) -> int:
    """Rough token count: about four characters per token, at least 1 for any non-empty text."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


def split_tokens(text: str) -> list[str]:
    """Split text into word-ish stream pieces (leading whitespace kept); ``"".join`` gives the text back."""
    return _TOKEN_RE.findall(text)


def words_of(text: str) -> list[str]:
    """The words and numbers of a text, in order, with their original casing."""
    return _WORD_RE.findall(text)


@dataclass(frozen=True, slots=True)
class Topic:
    """What a user message is about: a main phrase, further salient words, and a few raw features."""

    phrase: str | None
    others: tuple[str, ...]
    proper_nouns: tuple[str, ...]
    numbers: tuple[float, ...]
    greeting: bool
    text: str

    @property
    def keywords(self) -> tuple[str, ...]:
        """The phrase's words followed by the other salient words, without repeats."""
        head = tuple(self.phrase.split()) if self.phrase else ()
        return head + tuple(w for w in self.others if w not in head)


def _is_salient(word: str) -> bool:
    low = word.lower()
    return len(low) >= 3 and low not in STOPWORDS and not low[0].isdigit()


def extract_topic(text: str) -> Topic:
    """Pick the salient words of a message; the topic phrase is the longest run of adjacent salient words
    (at most its last two words, which in English is usually the head noun and its modifier)."""
    found = list(_WORD_RE.finditer(text))
    words = [m.group() for m in found]
    runs: list[list[str]] = []
    current: list[str] = []
    proper: list[str] = []
    for match in found:
        word = match.group()
        if not _is_salient(word):
            if current:
                runs.append(current)
                current = []
            continue
        sentence_start = not text[: match.start()].rstrip() or text[: match.start()].rstrip()[-1] in ".!?:\n"
        keep_case = word[0].isupper() and (not sentence_start or word.isupper())
        current.append(word if keep_case else word.lower())
        if keep_case:
            proper.append(word)
    if current:
        runs.append(current)
    phrase = None
    if runs:
        best = max(runs, key=len)  # max keeps the first of equally long runs
        phrase = " ".join(best[-2:])
    seen = set(phrase.split()) if phrase else set()
    others: list[str] = []
    for run in runs:
        for word in run:
            if word not in seen:
                seen.add(word)
                others.append(word)
    numbers = [float(w) for w in words if w[0].isdigit()]
    return Topic(
        phrase=phrase,
        others=tuple(others),
        proper_nouns=tuple(dict.fromkeys(proper)),
        numbers=tuple(numbers),
        greeting=bool(_GREETING_RE.match(text)) and len(words) <= 4,
        text=text,
    )


def _fill(template: str, topic: Topic, rng: random.Random) -> str:
    main = topic.phrase or _FALLBACK_TOPIC
    other = rng.choice(topic.others) if topic.others else rng.choice(_FALLBACK_OTHER)
    if other == main:
        other = rng.choice(_FALLBACK_OTHER)
    return template.format(topic=main, Topic=main[:1].upper() + main[1:], other=other)


def compose_sentences(
    topic: Topic,
    rng: random.Random,
    *,
    target_tokens: int,
    max_tokens: int,
    lead: Sequence[str] = (),
) -> str:
    """Build a reply of whole sentences: ``lead`` sentences first, then an opening, body sentences and
    sometimes a closing, stopping once ``target_tokens`` stream tokens are reached. Sentences that would push
    the reply past ``max_tokens`` are left out (the first sentence is always kept)."""
    sentences: list[str] = list(lead)
    greeting = topic.greeting and not topic.keywords
    sentences.append(rng.choice(_GREETINGS) if greeting else _fill(rng.choice(_OPENINGS), topic, rng))
    bodies = list(_CAPABILITIES if greeting else _BODIES)
    rng.shuffle(bodies)
    count = len(split_tokens(" ".join(sentences)))
    for template in bodies:
        if count >= target_tokens:
            break
        count = _append_if_fits(sentences, _fill(template, topic, rng), count, max_tokens)
    if rng.random() < 0.5 and not greeting:
        count = _append_if_fits(sentences, _fill(rng.choice(_CLOSINGS), topic, rng), count, max_tokens)
    return " ".join(sentences)


def _append_if_fits(sentences: list[str], sentence: str, count: int, max_tokens: int) -> int:
    extra = len(split_tokens(" " + sentence))
    if count + extra > max_tokens:
        return count
    sentences.append(sentence)
    return count + extra
