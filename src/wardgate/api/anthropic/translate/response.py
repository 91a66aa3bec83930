"""``openai_to_anthropic_response``: a ``chat.completion`` → an Anthropic ``Message``
(https://docs.anthropic.com/en/api/messages), plus the id, stop-reason and usage mappings the stream shares.

The inverse of ``wardgate.providers.anthropic.response``:

* ``id``: ``msg_`` + the chat id without its ``chatcmpl-`` prefix (the same id for a stream and its message).
* Content, in Anthropic's order: thinking, text, tool_use. ``thinking_blocks`` become ``thinking`` (with their
  signature) and ``redacted_thinking`` blocks; without them, ``reasoning_content`` (or ``reasoning``, as vLLM and
  OpenRouter name it) becomes one ``thinking`` block with an empty ``signature``. The SDK types require a string
  signature and clients echo it back unchanged; an empty one marks reasoning no provider signed, and the request
  translator turns it back into ``reasoning_content`` only (see ``messages``). ``content`` (or a ``refusal``)
  → one ``text`` block when not empty; ``tool_calls`` → ``tool_use`` blocks (``arguments`` parsed: arguments that
  are not a JSON object make the answer unusable, an ``UpstreamStatusError``).
* ``stop_reason``: stop → ``end_turn`` (``stop_sequence`` when the choice names the matched string in
  ``stop_reason``, as vLLM and SGLang do; ``tool_use`` when the message has tool calls anyway), length →
  ``max_tokens``, tool_calls / function_call → ``tool_use``, content_filter or a ``refusal`` → ``refusal``.
* ``usage``: ``input_tokens`` = prompt - cached - cache-creation tokens (the canonical ``prompt_tokens`` includes
  both), ``cache_read_input_tokens`` = ``cached_tokens``, ``cache_creation_input_tokens`` =
  ``cache_creation_tokens`` (with the 5-minute / 1-hour split when known), ``output_tokens`` =
  ``completion_tokens`` (``output_tokens_details.thinking_tokens`` from ``reasoning_tokens`` when not zero).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.api.anthropic.translate.common import JSONDict
from wardgate.core.errors import UpstreamStatusError

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def message_id(chat_id: Any) -> str:
    """The Anthropic message id for an OpenAI completion id."""
    if isinstance(chat_id, str) and chat_id:
        return chat_id if chat_id.startswith("msg_") else "msg_" + chat_id.removeprefix("chatcmpl-")
    return "msg_" + uuid.uuid4().hex


def stop_reason(finish_reason: Any, *, tool_use: bool, stop_sequence: str | None, refusal: bool) -> str:
    """Anthropic's ``stop_reason`` for an OpenAI ``finish_reason``."""
    if refusal:
        return "refusal"
    if stop_sequence is not None:
        return "stop_sequence"
    reason = STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    return "tool_use" if reason == "end_turn" and tool_use else reason


def matched_stop_sequence(choice: Mapping[str, Any]) -> str | None:
    """The stop string a ``stop`` finish matched, when the provider says (vLLM/SGLang ``choice.stop_reason``)."""
    value = choice.get("stop_reason")
    if choice.get("finish_reason") == "stop" and isinstance(value, str) and value:
        return value
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def anthropic_usage(usage: Any) -> JSONDict:
    """Anthropic's usage object for an OpenAI one (all zero when absent)."""
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    cached, created = _int(details.get("cached_tokens")), _int(details.get("cache_creation_tokens"))
    out: JSONDict = {
        "input_tokens": max(_int(usage.get("prompt_tokens")) - cached - created, 0),
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": cached,
        "output_tokens": _int(usage.get("completion_tokens")),
    }
    if "cache_creation_5m_tokens" in details or "cache_creation_1h_tokens" in details:
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": _int(details.get("cache_creation_5m_tokens")),
            "ephemeral_1h_input_tokens": _int(details.get("cache_creation_1h_tokens")),
        }
    completion = usage.get("completion_tokens_details")
    reasoning = _int(completion.get("reasoning_tokens")) if isinstance(completion, Mapping) else 0
    if reasoning:
        out["output_tokens_details"] = {"thinking_tokens": reasoning}
    return out


def reasoning_text(message: Mapping[str, Any]) -> str:
    """Reasoning text of a message or delta: ``reasoning_content``, else ``reasoning``."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def thinking_block(block: Any) -> JSONDict | None:
    """An Anthropic thinking / redacted_thinking block for a ``thinking_blocks`` entry (None if malformed)."""
    if not isinstance(block, Mapping):
        return None
    if block.get("type") == "thinking":
        signature = block.get("signature")
        return {
            "type": "thinking",
            "thinking": str(block.get("thinking") or ""),
            "signature": signature if isinstance(signature, str) else "",
        }
    if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
        return {"type": "redacted_thinking", "data": block["data"]}
    return None


def tool_input(arguments: Any) -> JSONDict:
    """A tool call's ``arguments`` (a JSON string, or an object) as Anthropic's ``input`` object."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        parsed: Any = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamStatusError("the provider returned tool call arguments that are not a JSON object")
    return parsed


def openai_to_anthropic_response(completion: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """The Anthropic ``Message`` for a ``chat.completion`` (``model`` is the name the client asked for)."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
        raise UpstreamStatusError("the provider sent a completion without a message")
    message: Mapping[str, Any] = choice["message"]
    blocks = _thinking_blocks(message)
    text = _text(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else ""
    if text or refusal:
        blocks.append({"type": "text", "text": text or refusal})
    calls = message.get("tool_calls")
    uses = [_tool_use(call) for call in calls] if isinstance(calls, list) else []
    blocks.extend(uses)
    sequence = matched_stop_sequence(choice)
    reason = stop_reason(
        choice.get("finish_reason"), tool_use=bool(uses), stop_sequence=sequence, refusal=bool(refusal)
    )
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(completion.get("usage")),
    }


def _thinking_blocks(message: Mapping[str, Any]) -> list[JSONDict]:
    raw = message.get("thinking_blocks")
    if isinstance(raw, list) and raw:
        return [block for block in map(thinking_block, raw) if block is not None]
    reasoning = reasoning_text(message)
    return [{"type": "thinking", "thinking": reasoning, "signature": ""}] if reasoning else []


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or part.get("refusal") or "") for part in content if isinstance(part, Mapping)
        )
    return ""


def tool_use_id(call_id: Any) -> str:
    """The tool call's id, or a fresh ``toolu_`` id when the provider sent none."""
    return call_id if isinstance(call_id, str) and call_id else "toolu_" + uuid.uuid4().hex[:24]


def _tool_use(call: Any) -> JSONDict:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise UpstreamStatusError("the provider returned a tool call without a function name")
    assert isinstance(call, Mapping)
    call_id = call.get("id")
    return {
        "type": "tool_use",
        "id": tool_use_id(call_id),
        "name": function["name"],
        "input": tool_input(function.get("arguments")),
    }
