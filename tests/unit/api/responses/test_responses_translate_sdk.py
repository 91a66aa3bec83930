"""The openai SDK's own Responses machinery over the translators, through an in-memory transport:

* ``ResponseStreamState`` (what ``client.responses.stream`` accumulates with) fed our events reproduces our final
  Response, and that equals ``chat_to_response`` of the same completion (ids aside);
* a full two-turn conversation with the official client — ``responses.create`` (plain and streamed) and
  ``responses.stream`` — against the simulated provider's chat engine behind the translators: parallel function
  calls, then ``function_call_output``\\s continuing from the stored ``conversation_items``;
* a stream broken by ``error_event`` makes the SDK raise ``APIError`` (the documented flat shape alone would not).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import orjson
import pytest
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from wardgate.api.responses.translate import (
    ChatChunksToResponseEvents,
    chat_to_response,
    conversation_items,
    error_event,
    input_items,
    responses_to_chat_request,
    sse_frame,
)
from wardgate.core.errors import StreamInterruptedError
from wardgate.providers.simulated.engine import plan_reply, render_chunks, render_completion

EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
MODEL = "sim-alias"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": None,
}


def pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def chunks_for(completion: dict[str, Any], size: int = 4) -> list[dict[str, Any]]:
    """A realistic chat stream for ``completion``: reasoning, text, tool-call fragments, finish, usage."""
    choice, message = completion["choices"][0], completion["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": p} for p in pieces(message.get("reasoning_content") or "", size)]
    deltas += [{"content": p} for p in pieces(message.get("content") or "", size)]
    for index, call in enumerate(message.get("tool_calls") or []):
        head = {"index": index, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"]}}
        deltas.append({"tool_calls": [head]})
        for part in pieces(call["function"]["arguments"], size):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "up"}
    out = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    out.append({**base, "choices": [], "usage": completion["usage"]})
    return out


def translate_stream(chunks: list[dict[str, Any]], request: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    translator = ChatChunksToResponseEvents(request, response_id="resp_s", created_at=3, model=MODEL)
    events = translator.start() + [e for c in chunks for e in translator.feed(c)] + translator.finish()
    return events, translator.response


def without_ids(response: dict[str, Any]) -> dict[str, Any]:
    output = [{k: v for k, v in item.items() if k != "id"} for item in response["output"]]
    return {**response, "id": "", "output": output}


COMPLETION = {
    "id": "chatcmpl-x",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "Looking both up.",
                "reasoning_content": "The user wants two cities.",
                "tool_calls": [
                    {
                        "id": "call_p",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_l",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"London"}'},
                    },
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90},
}


def test_sdk_accumulator_reproduces_our_final_response() -> None:
    request = {"model": MODEL, "input": "Weather in Paris and London?", "tools": [WEATHER], "stream": True}
    events, final = translate_stream(chunks_for(COMPLETION), request)
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in events:
        state.handle_event(EVENT.validate_python(event))
    accumulated = state._completed_response
    assert accumulated is not None
    assert accumulated.output_text == "Looking both up."
    calls = [(o.call_id, o.name, o.arguments) for o in accumulated.output if o.type == "function_call"]
    assert calls == [("call_p", "get_weather", '{"city":"Paris"}'), ("call_l", "get_weather", '{"city":"London"}')]
    assert accumulated.model_dump(mode="json", exclude_none=True) == openai.types.responses.Response.model_validate(
        final
    ).model_dump(mode="json", exclude_none=True)
    plain = chat_to_response(COMPLETION, request, response_id="resp_s", created_at=3, model=MODEL)
    assert without_ids(final) == without_ids(plain)


# -------------------------------------------------------------------------------- a gateway in miniature


class MiniGateway:
    """Responses in, the simulated provider's chat engine behind the translators, the conversation stored."""

    def __init__(self) -> None:
        self.store: dict[str, list[dict[str, Any]]] = {}
        self.chat_bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = orjson.loads(request.content)
        items = input_items(body["input"])
        previous = body.get("previous_response_id")
        history = self.store[previous] if previous else []
        chat = responses_to_chat_request({**body, "input": history + items})
        self.chat_bodies.append(chat)
        reply = plan_reply(chat)
        response_id = f"resp_{len(self.store) + 1}"
        if not chat.get("stream"):
            completion = render_completion(chat, reply, model="sim", response_id="chatcmpl-1", created=1)
            result = chat_to_response(completion, body, response_id=response_id, created_at=1, model=body["model"])
            self.store[response_id] = conversation_items(history + items, result)
            return httpx2.Response(200, json=result)
        translator = ChatChunksToResponseEvents(body, response_id=response_id, created_at=1, model=body["model"])
        events = translator.start()
        for chunk in render_chunks(chat, reply, model="sim", response_id="chatcmpl-1", created=1):
            events += translator.feed(chunk)
        events += translator.finish()
        self.store[response_id] = conversation_items(history + items, translator.response)
        sse = b"".join(sse_frame(event["type"], event) for event in events)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)


def client_for(handler: Any) -> openai.OpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="k", base_url="http://gw.test/v1", max_retries=0, http_client=httpx2.Client(transport=transport)
    )


@pytest.mark.parametrize("mode", ["create", "create-stream", "stream-helper"])
def test_official_client_runs_a_tool_conversation(mode: str) -> None:
    gateway = MiniGateway()
    client: Any = client_for(gateway)  # plain dicts for the SDK's TypedDict params

    def ask(**kwargs: Any) -> Any:
        if mode == "create":
            return client.responses.create(model=MODEL, tools=[WEATHER], **kwargs)
        if mode == "create-stream":
            stream = client.responses.create(model=MODEL, tools=[WEATHER], stream=True, **kwargs)
            return next(e for e in stream if e.type == "response.completed").response
        with client.responses.stream(model=MODEL, tools=[WEATHER], **kwargs) as stream:
            return stream.get_final_response()

    first = ask(input="What's the weather in Paris and in London?")
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 2 and {c.name for c in calls} == {"get_weather"}
    assert first.status == "completed" and first.usage is not None and first.usage.total_tokens > 0
    outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": '{"temp_c": 18}'} for c in calls]
    second = ask(input=outputs, previous_response_id=first.id)
    assert second.output_text and second.previous_response_id == first.id
    chat = gateway.chat_bodies[-1]["messages"]
    assert [m["role"] for m in chat] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in chat[1]["tool_calls"]] == [c.call_id for c in calls]
    assert [m["tool_call_id"] for m in chat[2:]] == [c.call_id for c in calls]


def test_a_broken_stream_makes_the_sdk_raise() -> None:
    translator = ChatChunksToResponseEvents(
        {"model": MODEL, "input": "hi"}, response_id="resp_e", created_at=1, model=MODEL
    )
    events = translator.start() + translator.feed(chunks_for(COMPLETION)[2])
    broken = error_event(StreamInterruptedError("The provider broke off the answer."), len(events))
    sse = b"".join(sse_frame(e["type"], e) for e in events) + sse_frame("error", broken)

    client = client_for(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)
    )
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for event in client.responses.create(model=MODEL, input="hi", stream=True):
            seen.append(event.type)
    assert caught.value.message == "The provider broke off the answer."
    assert caught.value.code == "stream_interrupted"
    assert seen[:2] == ["response.created", "response.in_progress"]

    flat = {k: v for k, v in broken.items() if k != "error"}  # the documented shape alone: no exception
    quiet = b"".join(sse_frame(e["type"], e) for e in events) + sse_frame("error", flat)
    client = client_for(
        lambda request: httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=quiet)
    )
    assert [e.type for e in client.responses.create(model=MODEL, input="hi", stream=True)][-1] == "error"
