"""Which OpenAI encoding (tokenizer vocabulary) a model id uses.

The table mirrors tiktoken's own model map (``tiktoken/model.py``, https://github.com/openai/tiktoken) for the
encodings toktok-rs bundles, and is checked against it in tests. Anything not listed is not an OpenAI model as far
as counting goes: ``encoding_for`` returns None and callers estimate with ``FALLBACK_ENCODING``.
"""

from __future__ import annotations

from typing import Final

CL100K: Final = "cl100k_base"
O200K: Final = "o200k_base"
O200K_HARMONY: Final = "o200k_harmony"
FALLBACK_ENCODING: Final = CL100K
"""The stand-in vocabulary for models whose tokenizer is not public or not bundled (see ``count``)."""

MODEL_ENCODINGS: Final[tuple[tuple[str, str], ...]] = (
    # First match wins, so the more specific prefix comes first ("gpt-4.1" before "gpt-4").
    ("gpt-4o", O200K),
    ("chatgpt-4o", O200K),
    ("gpt-4.1", O200K),
    ("gpt-4.5", O200K),
    ("gpt-5", O200K),
    ("o1", O200K),
    ("o3", O200K),
    ("o4", O200K),
    ("gpt-oss", O200K_HARMONY),
    ("gpt-4", CL100K),
    ("gpt-3.5", CL100K),
    ("gpt-35", CL100K),  # Azure's spelling of gpt-3.5-turbo model names
    ("text-embedding-3", CL100K),
    ("text-embedding-ada-002", CL100K),
)
"""Model id prefix → encoding. A prefix matches the whole id or an id that continues with a non-alphanumeric
character, so "o1" matches "o1-mini" but not "o100", and "gpt-4" never matches "gpt-4o"."""

_STRIP_PREFIXES: Final = ("ft:", "openai.")
"""Fine-tuned models ("ft:gpt-4o-mini:org::id") and Bedrock's OpenAI model ids ("openai.gpt-oss-120b-1:0")."""


def encoding_for(model: str | None) -> str | None:
    """The OpenAI encoding of ``model`` (provider prefixes such as "openai/" or "azure/" are ignored), or None when
    it is not a known OpenAI model."""
    if not model:
        return None
    name = model.rsplit("/", 1)[-1].strip().lower()
    for prefix in _STRIP_PREFIXES:
        name = name.removeprefix(prefix)
    for prefix, encoding in MODEL_ENCODINGS:
        if name.startswith(prefix) and (len(name) == len(prefix) or not name[len(prefix)].isalnum()):
            return encoding
    return None
