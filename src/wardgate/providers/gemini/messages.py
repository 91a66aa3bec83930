"""OpenAI ``messages`` → Gemini ``systemInstruction`` + ``contents``.

https://ai.google.dev/api/generate-content#request-body and https://ai.google.dev/api/caching#Content:
roles are ``user`` and ``model``; system and developer messages become ``systemInstruction`` (in order);
images, audio and files travel as ``inlineData`` (the gateway has already turned image URLs into ``data:`` URLs);
assistant tool calls become ``functionCall`` parts and tool results ``functionResponse`` parts of a user turn
(https://ai.google.dev/gemini-api/docs/function-calling); consecutive turns of one role are merged.

Thought signatures (https://ai.google.dev/gemini-api/docs/thought-signatures) ride on tool calls as
``extra_content.google.thought_signature`` — the convention of Google's own OpenAI-compatible endpoint — and go
back as ``thoughtSignature``. They also come back in ``thinking_blocks`` (what Anthropic clients keep), marked with
the part that carried them (see ``response.mark_signature``): a ``thought`` signature returns as a thought part
(``thought: true``, the block's text, ``thoughtSignature``) before the turn's other parts, a ``call`` signature
on the turn's function calls in order (unless a call already has one from ``extra_content``), a ``text`` signature
on the turn's last text part (Gemini only recommends returning that one; without a text part it is left out).
Unmarked signatures are another provider's, which Gemini could not verify: they are left out, as is unsigned
reasoning (Gemini reads nothing from thought text without its signature). Gemini 3 rejects a replayed function
call without a signature, so for those models a call that lost its signature gets the documented
``skip_thought_signature_validator`` placeholder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.gemini.response import read_signature

SKIP_SIGNATURE = "skip_thought_signature_validator"
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
JSONDict = dict[str, Any]


def convert_messages(messages: Any, *, need_signatures: bool) -> tuple[list[JSONDict], list[JSONDict]]:
    """``(system parts, contents)``. Raises ``InvalidRequestError`` for what Gemini cannot take."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("`messages` must be a non-empty array", param="messages")
    system: list[JSONDict] = []
    contents: list[JSONDict] = []
    call_names: dict[str, str] = {}
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidRequestError(f"messages[{index}] must be an object", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_parts(message.get("content"), index, allow_refusal=False))
        elif role == "user":
            _append(contents, "user", _user_parts(message.get("content"), index))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, index, call_names, need_signatures))
        elif role == "tool":
            _append(contents, "user", [_tool_result(message, index, call_names)])
        else:
            raise InvalidRequestError(f"messages[{index}].role {role!r} is not supported", param="messages")
    if not contents:
        raise InvalidRequestError("at least one user or assistant message is required", param="messages")
    return system, contents


def _append(contents: list[JSONDict], role: str, parts: list[JSONDict]) -> None:
    """Add a turn, merging it into the previous one when the role repeats (Gemini wants whole turns)."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _text_parts(content: Any, index: int, *, allow_refusal: bool) -> list[JSONDict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError(f"messages[{index}].content must be a string or an array", param="messages")
    parts: list[JSONDict] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "refusal" and allow_refusal and isinstance(part.get("refusal"), str):
            parts.append({"text": part["refusal"]})
        else:
            raise InvalidRequestError(f"messages[{index}] has a content part Gemini cannot take here", param="messages")
    return parts


def _user_parts(content: Any, index: int) -> list[JSONDict]:
    if not isinstance(content, list):
        return _text_parts(content, index, allow_refusal=False)
    parts: list[JSONDict] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            parts.append(_inline_from_data_url(url, index, "image_url"))
        elif kind == "input_audio":
            parts.append(_audio_part(part.get("input_audio"), index))
        elif kind == "file":
            file = part.get("file")
            if not isinstance(file, Mapping) or not isinstance(file.get("file_data"), str):
                raise InvalidRequestError("Gemini needs file content inline (`file.file_data`)", param="messages")
            parts.append(_inline_from_data_url(file["file_data"], index, "file"))
        else:
            raise InvalidRequestError(f"messages[{index}] has a content part of unknown type", param="messages")
    return parts


def _inline_from_data_url(url: Any, index: int, kind: str) -> JSONDict:
    """``data:<mime>;base64,<data>`` → ``inlineData``. Remote URLs must have been fetched by the gateway."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InvalidRequestError(
            f"messages[{index}]: Gemini needs {kind} content as a base64 data: URL", param="messages"
        )
    header, sep, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not sep or encoding.lower() != "base64" or "/" not in mime or not data:
        raise InvalidRequestError(f"messages[{index}]: malformed data: URL in {kind}", param="messages")
    return {"inlineData": {"mimeType": mime.strip().lower(), "data": data.strip()}}


def _audio_part(audio: Any, index: int) -> JSONDict:
    if not isinstance(audio, Mapping) or not isinstance(audio.get("data"), str):
        raise InvalidRequestError(f"messages[{index}]: input_audio needs `data`", param="messages")
    mime = _AUDIO_TYPES.get(str(audio.get("format")))
    if mime is None:
        raise InvalidRequestError(f"messages[{index}]: input_audio format must be wav or mp3", param="messages")
    return {"inlineData": {"mimeType": mime, "data": audio["data"]}}


def _assistant_parts(
    message: Mapping[str, Any], index: int, call_names: dict[str, str], need_signatures: bool
) -> list[JSONDict]:
    if message.get("function_call") is not None:
        raise InvalidRequestError("legacy `function_call` messages are not supported; use tool_calls", param="messages")
    parts = _text_parts(message.get("content"), index, allow_refusal=True)
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequestError(f"messages[{index}].tool_calls must be an array", param="messages")
    call_parts = [_function_call(call, index, call_names) for call in calls]
    thoughts, signatures = _signed_thinking(message.get("thinking_blocks"))
    if not any("thoughtSignature" in p for p in call_parts):
        for part, signature in zip(call_parts, signatures["call"], strict=False):
            part["thoughtSignature"] = signature
    if parts and signatures["text"]:
        parts[-1]["thoughtSignature"] = signatures["text"][-1]
    if need_signatures and call_parts and not any("thoughtSignature" in p for p in call_parts):
        call_parts[0]["thoughtSignature"] = SKIP_SIGNATURE
    return thoughts + parts + call_parts


def _signed_thinking(blocks: Any) -> tuple[list[JSONDict], dict[str, list[str]]]:
    """Thought parts for Gemini's own signed thoughts, and its other signatures by the kind of part they sign."""
    thoughts: list[JSONDict] = []
    signatures: dict[str, list[str]] = {"call": [], "text": []}
    for block in blocks if isinstance(blocks, list) else []:
        if not isinstance(block, Mapping) or block.get("type") != "thinking":
            continue
        signed = read_signature(block.get("signature"))
        if signed is None:
            continue
        kind, signature = signed
        if kind == "thought":
            text = block.get("thinking")
            thoughts.append(
                {"text": text if isinstance(text, str) else "", "thought": True, "thoughtSignature": signature}
            )
        else:
            signatures[kind].append(signature)
    return thoughts, signatures


def _function_call(call: Any, index: int, call_names: dict[str, str]) -> JSONDict:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise InvalidRequestError(f"messages[{index}].tool_calls needs function names", param="messages")
    name: str = function["name"]
    args = _parse_arguments(function.get("arguments"), index)
    part: JSONDict = {"functionCall": {"name": name, "args": args}}
    call_id = call.get("id")
    if isinstance(call_id, str) and call_id:
        call_names[call_id] = name
        part["functionCall"]["id"] = call_id
    signature = _signature(call)
    if signature:
        part["thoughtSignature"] = signature
    return part


def _parse_arguments(raw: Any, index: int) -> JSONDict:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        args = orjson.loads(raw) if isinstance(raw, str | bytes) else None
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise InvalidRequestError(
            f"messages[{index}]: tool call arguments must be a JSON object for Gemini", param="messages"
        )
    return args


def _signature(call: Mapping[str, Any]) -> str | None:
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    return signature if isinstance(signature, str) and signature else None


def _tool_result(message: Mapping[str, Any], index: int, call_names: dict[str, str]) -> JSONDict:
    call_id = message.get("tool_call_id")
    name = call_names.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        raise InvalidRequestError(
            f"messages[{index}]: tool_call_id does not match a tool call of an earlier assistant message",
            param="messages",
        )
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p["text"] for p in _text_parts(content, index, allow_refusal=False))
    if not isinstance(content, str):
        raise InvalidRequestError(f"messages[{index}].content must be a string or text parts", param="messages")
    # ``response`` must be a JSON object; anything else is wrapped (https://ai.google.dev/api/caching#FunctionResponse)
    try:
        parsed = orjson.loads(content) if content.lstrip().startswith("{") else None
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"result": content}
    return {"functionResponse": {"id": call_id, "name": name, "response": response}}
