"""Chat completions → Responses ``Response`` objects: output items (reasoning, message, refusal, function calls),
status and ``incomplete_details``, usage, the echoed request parameters, logprobs and citations. Every result is
validated with the openai SDK's ``Response.model_validate`` and read back through its ``output_text``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openai.types.responses import Response

from wardgate.api.responses.translate import chat_to_response, responses_to_chat_request
from wardgate.api.responses.translate.common import decode_thinking
from wardgate.core.errors import UpstreamStatusError

REQUEST = {"model": "my-alias", "input": "hi"}
USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 30,
    "total_tokens": 150,
    "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 8},
    "completion_tokens_details": {"reasoning_tokens": 12},
}


def completion(message: dict[str, Any], finish: str = "stop", **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "upstream-model",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}],
        "usage": USAGE,
    }


def respond(done: dict[str, Any], request: dict[str, Any] | None = None) -> tuple[dict[str, Any], Response]:
    out = chat_to_response(done, request or REQUEST, response_id="resp_abc", created_at=1700, model="my-alias")
    return out, Response.model_validate(out)


def test_text_answer() -> None:
    out, model = respond(completion({"content": "Hello there."}))
    assert model.output_text == "Hello there."
    assert (out["id"], out["object"], out["created_at"], out["model"]) == ("resp_abc", "response", 1700, "my-alias")
    assert (out["status"], out["incomplete_details"], out["error"]) == ("completed", None, None)
    [item] = out["output"]
    assert re.fullmatch(r"msg_[0-9a-f]{48}", item["id"])
    assert item == {
        "id": item["id"],
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Hello there.", "annotations": [], "logprobs": []}],
    }
    assert "output_text" not in out


def test_usage_mapping() -> None:
    out, model = respond(completion({"content": "x"}))
    assert out["usage"] == {
        "input_tokens": 120,
        "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 8},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 12},
        "total_tokens": 150,
    }
    assert model.usage is not None and model.usage.input_tokens_details.cached_tokens == 100
    bare = completion({"content": "x"})
    bare["usage"] = {"prompt_tokens": 3, "completion_tokens": 4}
    assert respond(bare)[0]["usage"]["total_tokens"] == 7
    del bare["usage"]
    assert respond(bare)[0]["usage"] is None


def test_reasoning_text_and_tool_calls() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
    ]
    out, model = respond(
        completion({"content": None, "reasoning_content": "Two cities.", "tool_calls": calls}, "tool_calls")
    )
    reasoning, first, second = out["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [] and reasoning["content"] == [{"type": "reasoning_text", "text": "Two cities."}]
    assert "encrypted_content" not in reasoning
    assert first["id"].startswith("fc_") and first["id"] != second["id"]
    assert {k: first[k] for k in ("type", "call_id", "name", "arguments", "status")} == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "status": "completed",
    }
    assert second["arguments"] == '{"city":"Rome"}'
    assert model.output_text == "" and out["status"] == "completed"


def test_text_with_tool_call_and_a_generated_call_id() -> None:
    calls = [{"type": "function", "function": {"name": "f", "arguments": ""}}]
    out, model = respond(completion({"content": "Let me check.", "tool_calls": calls}, "tool_calls"))
    assert [item["type"] for item in out["output"]] == ["message", "function_call"]
    assert out["output"][1]["call_id"].startswith("call_") and out["output"][1]["arguments"] == ""
    assert model.output_text == "Let me check."


def test_refusal_part() -> None:
    out, model = respond(completion({"content": None, "refusal": "I can't help with that."}))
    assert out["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]
    assert model.output_text == ""


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete_answers(finish: str, reason: str) -> None:
    out, model = respond(completion({"content": "Cut sho"}, finish))
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": reason}
    assert out["output"][-1]["status"] == "incomplete"
    assert model.incomplete_details is not None and model.incomplete_details.reason == reason
    assert model.output_text == "Cut sho"


def test_vllm_reasoning_field_and_list_content() -> None:
    message = {"reasoning": "hmm", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    out, model = respond(completion(message))
    assert out["output"][0]["content"][0]["text"] == "hmm"
    assert model.output_text == "ab"


def test_signed_thinking_round_trips_through_encrypted_content() -> None:
    blocks = [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    done = completion(
        {"content": None, "reasoning_content": "Let me think.", "thinking_blocks": blocks, "tool_calls": [call]}
    )
    out, _ = respond(done, {"model": "claude", "input": "q", "tools": [{"type": "function", "name": "f"}]})
    reasoning = out["output"][0]
    assert decode_thinking(reasoning["encrypted_content"]) == blocks
    follow_up = [
        {"role": "user", "content": "q"},
        *out["output"],
        {"type": "function_call_output", "call_id": "toolu_1", "output": "42"},
    ]
    chat = responses_to_chat_request(
        {"model": "claude", "input": follow_up, "tools": [{"type": "function", "name": "f"}]}
    )
    assistant = chat["messages"][1]
    assert assistant["thinking_blocks"] == blocks and assistant["reasoning_content"] == "Let me think."
    assert assistant["tool_calls"][0]["id"] == "toolu_1"


def test_logprobs_and_url_citations() -> None:
    logprobs = {
        "content": [
            {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [{"token": "Hi", "logprob": -0.1}]}
        ]
    }
    notes = [
        {"type": "url_citation", "url_citation": {"start_index": 0, "end_index": 2, "title": "T", "url": "https://t"}}
    ]
    out, model = respond(completion({"content": "Hi", "annotations": notes}, logprobs=logprobs))
    part = out["output"][0]["content"][0]
    assert part["logprobs"] == [
        {
            "token": "Hi",
            "bytes": [72, 105],
            "logprob": -0.1,
            "top_logprobs": [{"token": "Hi", "bytes": [], "logprob": -0.1}],
        }
    ]
    assert part["annotations"] == [
        {"type": "url_citation", "start_index": 0, "end_index": 2, "title": "T", "url": "https://t"}
    ]
    assert model.output_text == "Hi"


def test_request_parameters_are_echoed_with_openai_defaults() -> None:
    out, _ = respond(completion({"content": "x"}))
    defaults = {k: out[k] for k in ("instructions", "tools", "tool_choice", "parallel_tool_calls", "temperature")}
    assert defaults == {
        "instructions": None,
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "temperature": None,
    }
    assert out["text"] == {"format": {"type": "text"}}
    assert out["reasoning"] == {"effort": None, "summary": None}
    assert (out["metadata"], out["store"], out["truncation"], out["background"]) == ({}, True, "disabled", False)
    assert out["previous_response_id"] is None and out["max_output_tokens"] is None and out["user"] is None

    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}]
    request = {
        "model": "my-alias",
        "input": "hi",
        "instructions": "Be brief.",
        "tools": tools,
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False,
        "temperature": 0.3,
        "top_p": 0.8,
        "max_output_tokens": 99,
        "previous_response_id": "resp_prev",
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "reasoning": {"effort": "low", "summary": "auto"},
        "metadata": {"k": "v"},
        "store": False,
        "truncation": "auto",
        "user": "u",
    }
    out, model = respond(completion({"content": "{}"}), request)
    for key in ("instructions", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "metadata"):
        assert out[key] == request[key], key
    assert (out["max_output_tokens"], out["previous_response_id"], out["store"], out["user"]) == (
        99,
        "resp_prev",
        False,
        "u",
    )
    assert out["text"] == {"format": {"type": "json_object"}, "verbosity": "low"}
    assert out["reasoning"] == {"effort": "low", "summary": "auto"}
    assert model.tools[0].type == "function" and model.model == "my-alias"


def test_unusable_completions_are_upstream_errors() -> None:
    with pytest.raises(UpstreamStatusError):
        respond({"choices": []})
    with pytest.raises(UpstreamStatusError):
        respond(completion({"content": None, "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}))
