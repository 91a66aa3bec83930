"""Acceptance: a recorded Claude Code-style session (``data/claude_code_session.json``: system prompt with
``cache_control``, tools, extended thinking, streamed tool use, tool results) replays through one real gateway to
non-Anthropic deployments, and what the official ``anthropic`` SDK parses matches the Anthropic-deployment run
event for event.

Every fake upstream is scripted with the same answer per turn (reasoning, text, tool calls). Each turn's request
carries the earlier turns as the client parsed them (thinking blocks with their signatures, tool_use ids), so the
history direction is tested too: signatures and ids the gateway invented must come back to it intact.

What the comparison normalises, and why:

* ``ping`` events are left out: Anthropic's stream may send them at any time and clients ignore them; so are the
  SDK's own derived events (``text``, ``thinking``, ``signature``, ``input_json``), which repeat the deltas.
* Consecutive ``content_block_delta`` events of one block and delta type count as one: how text, thinking and
  tool input are chunked is the provider's business (Anthropic sends tool input in many fragments after an empty
  one, Gemini sends a whole call at once). Everything else — the event order, block indexes and types, delta
  types, tool names, ``stop_reason`` — must be equal.
* Final content is compared block by block: text, thinking text and tool name + parsed input by value; tool_use
  ids and thinking signatures only by shape (non-empty, a valid Anthropic tool id) since every provider issues
  its own. Usage must be present (input and output tokens), not equal: each provider counts its own way.
* OpenAI's Chat Completions API returns no reasoning text, so the OpenAI run is compared with the thinking blocks
  taken out of the reference (the rest renumbered); it still proves text, tool use and the tool-result history.

Gemini signs reasoning where its model puts the signature: the Gemini 2.5 deployment (the comparison) signs the
thought itself; Gemini 3 signs the function call, after the text that closed the thinking block in a stream, so
its signature arrives in a block of its own right before the tool_use. That run is checked separately, for its
shape and for the exact signatures coming back on the function calls.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY

from wardgate.testing import Behavior, FakeAnthropic, FakeBedrock, FakeGemini, FakeOpenAI, ToolCall

SESSION: dict[str, Any] = orjson.loads((Path(__file__).parent / "data" / "claude_code_session.json").read_bytes())
TURNS: list[dict[str, Any]] = SESSION["turns"]
ANTHROPIC_KEY = "sk-ant-replay-test-0123456789"
OPENAI_KEY = "sk-openai-replay-test-0123456789"
GEMINI_KEY = "gemini-replay-test-0123456789"
AWS = ("AKIAREPLAYTEST000001", "replay/secret/0123456789abcdefghijklmn")
UPSTREAM = {
    "claude": "claude-sonnet-4-5-20250929",
    "gpt": "o4-mini",
    "gemini": "gemini-2.5-flash",
    "gemini3": "gemini-3-pro-preview",
    "bedrock": "anthropic.claude-sonnet-4-20250514-v1:0",
}
FAKE_OF = {"claude": "claude", "gpt": "gpt", "gemini": "gemini", "gemini3": "gemini", "bedrock": "bedrock"}
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
Event = tuple[Any, ...]


@dataclass
class Turn:
    events: list[Event]
    blocks: list[Event]
    stop_reason: str | None
    usage: anthropic.types.Usage
    content: list[dict[str, Any]]
    headers: dict[str, str]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    made = {
        "claude": FakeAnthropic(api_key=ANTHROPIC_KEY),
        "gpt": FakeOpenAI(api_key=OPENAI_KEY),
        "gemini": FakeGemini(api_key=GEMINI_KEY),
        "bedrock": FakeBedrock(access_key_id=AWS[0], secret_access_key=AWS[1], region="us-east-1"),
    }
    runners = [fake.run_in_thread() for fake in made.values()]
    try:
        yield made
    finally:
        for runner in runners:
            runner.close()


@pytest.fixture(scope="module")
def gateway(fakes: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    bedrock = {"name": "bedrock", "type": "bedrock", "region": "us-east-1", "base_url": fakes["bedrock"].url}
    config = {
        "server": {"access_log": False},
        "providers": [
            {"name": "claude", "type": "anthropic", "base_url": fakes["claude"].url, "api_key": ANTHROPIC_KEY},
            {"name": "gpt", "type": "openai", "base_url": fakes["gpt"].base_url, "api_key": OPENAI_KEY},
            {"name": "gemini", "type": "gemini", "base_url": fakes["gemini"].url, "api_key": GEMINI_KEY},
            {**bedrock, "access_key_id": AWS[0], "secret_access_key": AWS[1]},
        ],
        "models": [
            # default (strict) deployments: a Claude Code session must work with no special settings
            {"name": name, "deployments": [{"provider": FAKE_OF[name], "model": model}]}
            for name, model in UPSTREAM.items()
        ],
    }
    workdir: Path = tmp_path_factory.mktemp("claude-code-replay")
    process = GatewayProcess(workdir, config, master_key=MASTER_KEY).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def runs(gateway: GatewayProcess, fakes: dict[str, Any]) -> dict[str, list[Turn]]:
    """The whole session replayed once against every target (the fakes scripted with the recorded answers)."""
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    for fake in fakes.values():
        fake.reset()
    for target, model in UPSTREAM.items():
        fakes[FAKE_OF[target]].script_many(behaviors(model))
    return {target: replay(client, target) for target in UPSTREAM}


def behaviors(model: str) -> list[Behavior]:
    return [
        Behavior(
            match_model=model,
            reasoning=turn["answer"]["reasoning"],
            content=turn["answer"]["text"],
            tool_calls=[ToolCall(call["name"], call["input"]) for call in turn["answer"]["tool_calls"]] or None,
        )
        for turn in TURNS
    ]


# ------------------------------------------------------------------------------------------------ replay


def replay(client: anthropic.Anthropic, target: str) -> list[Turn]:
    """Send the session turn by turn; each request's history is the client's parse of the earlier answers."""
    messages: list[dict[str, Any]] = []
    ids: dict[str, str] = {}  # recorded tool_use id → the id this run received
    turns: list[Turn] = []
    for recorded in TURNS:
        for message in messages:  # as Claude Code does: only the newest user turn keeps its cache breakpoint
            if message["role"] == "user":
                message["content"] = [{k: v for k, v in b.items() if k != "cache_control"} for b in message["content"]]
        messages.append({"role": "user", "content": [remap(block, ids) for block in copy.deepcopy(recorded["user"])]})
        turn = stream_turn(client, target, messages)
        turns.append(turn)
        messages.append({"role": "assistant", "content": turn.content})
        received = [block["id"] for block in turn.content if block["type"] == "tool_use"]
        recorded_ids = [call["id"] for call in recorded["answer"]["tool_calls"]]
        assert len(received) == len(recorded_ids), f"{target}: the answer lost or invented tool calls"
        ids.update(zip(recorded_ids, received, strict=True))
    return turns


def remap(block: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    if block["type"] == "tool_result":
        block["tool_use_id"] = ids[block["tool_use_id"]]
    return block


def stream_turn(client: anthropic.Anthropic, target: str, messages: list[dict[str, Any]]) -> Turn:
    params = {k: v for k, v in SESSION["request"].items() if k != "stream"}  # stream() sets it
    params.update(model=target, messages=copy.deepcopy(messages))
    with client.messages.stream(**params, extra_headers=SESSION["headers"]) as stream:
        events = list(stream)
        final = stream.get_final_message()
        headers = dict(stream.response.headers)
    return Turn(
        events=normalized(events),
        blocks=[block_view(block) for block in final.content],
        stop_reason=final.stop_reason,
        usage=final.usage,
        content=[block.to_dict() for block in final.content],
        headers=headers,
    )


def normalized(events: list[Any]) -> list[Event]:
    """The event sequence without pings and SDK-derived events, consecutive deltas of one block/type merged."""
    out: list[Event] = []
    for event in events:
        if event.type == "message_start":
            out.append(("message_start",))
        elif event.type == "content_block_start":
            block = event.content_block
            out.append(("content_block_start", event.index, block.type, getattr(block, "name", None)))
        elif event.type == "content_block_delta":
            item = ("content_block_delta", event.index, event.delta.type)
            if out[-1] != item:
                out.append(item)
        elif event.type == "content_block_stop":
            out.append(("content_block_stop", event.index))
        elif event.type == "message_delta":
            out.append(("message_delta", event.delta.stop_reason))
        elif event.type == "message_stop":
            out.append(("message_stop",))
    return out


def block_view(block: Any) -> Event:
    """A final content block with provider-issued ids and signatures reduced to their shape."""
    if block.type == "thinking":
        return ("thinking", block.thinking, bool(block.signature))
    if block.type == "text":
        return ("text", block.text)
    if block.type == "tool_use":
        return ("tool_use", block.name, block.input, bool(TOOL_ID.match(block.id)))
    return (block.type,)


def without_thinking(events: list[Event]) -> list[Event]:
    """``events`` with the thinking blocks taken out and the other blocks renumbered."""
    thinking = {e[1] for e in events if e[0] == "content_block_start" and e[2] == "thinking"}
    kept = sorted({e[1] for e in events if e[0].startswith("content_block")} - thinking)
    number = {index: position for position, index in enumerate(kept)}
    return [
        (e[0], number[e[1]], *e[2:]) if e[0].startswith("content_block") else e
        for e in events
        if not (e[0].startswith("content_block") and e[1] in thinking)
    ]


def recorded_blocks(answer: dict[str, Any], *, thinking: bool = True) -> list[Event]:
    """What the client should hold after the recorded answer (Anthropic's order: thinking, text, tool_use)."""
    blocks: list[Event] = [("thinking", answer["reasoning"], True)] if thinking else []
    if answer["text"]:
        blocks.append(("text", answer["text"]))
    blocks.extend(("tool_use", call["name"], call["input"], True) for call in answer["tool_calls"])
    return blocks


# ------------------------------------------------------------------------------------------------- tests


def test_the_anthropic_run_is_the_recorded_session(runs: dict[str, list[Turn]], fakes: dict[str, Any]) -> None:
    """The reference: passthrough gives back exactly the recorded answers, and the history goes back verbatim."""
    for turn, recorded in zip(runs["claude"], TURNS, strict=True):
        assert turn.blocks == recorded_blocks(recorded["answer"])
        assert turn.stop_reason == ("tool_use" if recorded["answer"]["tool_calls"] else "end_turn")
        assert turn.events[0] == ("message_start",) and turn.events[-1] == ("message_stop",)
    sent = [r for r in fakes["claude"].requests if r.path == "/v1/messages"]
    assert len(sent) == len(TURNS)
    for request, previous in zip(sent[1:], runs["claude"], strict=False):
        assert request.json["messages"][-2] == {"role": "assistant", "content": previous.content}
        assert "interleaved-thinking-2025-05-14" in request.headers["anthropic-beta"]
        assert request.json["thinking"] == SESSION["request"]["thinking"]


@pytest.mark.parametrize("target", ["gemini", "bedrock"])
def test_translated_runs_match_the_anthropic_run_event_for_event(runs: dict[str, list[Turn]], target: str) -> None:
    for number, (turn, reference) in enumerate(zip(runs[target], runs["claude"], strict=True), start=1):
        assert turn.events == reference.events, f"{target}, turn {number}"
        assert turn.blocks == reference.blocks, f"{target}, turn {number}"
        assert turn.stop_reason == reference.stop_reason
        assert turn.usage.input_tokens > 0 and turn.usage.output_tokens > 0
        ids = [block["id"] for block in turn.content if block["type"] == "tool_use"]
        assert len(set(ids)) == len(ids)


def test_openai_run_matches_without_thinking(runs: dict[str, list[Turn]]) -> None:
    """OpenAI's chat API returns no reasoning text: everything but the thinking blocks must match."""
    for number, (turn, reference) in enumerate(zip(runs["gpt"], runs["claude"], strict=True), start=1):
        assert turn.events == without_thinking(reference.events), f"turn {number}"
        assert turn.blocks == [b for b in reference.blocks if b[0] != "thinking"], f"turn {number}"
        assert turn.stop_reason == reference.stop_reason
        assert turn.usage.input_tokens > 0 and turn.usage.output_tokens > 0


# --------------------------------------------------------------------------------- what the upstreams got


def sent(fakes: dict[str, Any], target: str, marker: str) -> list[dict[str, Any]]:
    """The bodies the target's fake received for the session, in order."""
    bodies = [r.json for r in fakes[FAKE_OF[target]].requests if marker in r.path]
    assert len(bodies) == len(TURNS)
    return bodies


def signatures(turns: list[Turn]) -> list[str]:
    return [block["signature"] for turn in turns for block in turn.content if block["type"] == "thinking"]


def test_gemini_received_the_translated_session(runs: dict[str, list[Turn]], fakes: dict[str, Any]) -> None:
    bodies = sent(fakes, "gemini", "gemini-2.5-flash:streamGenerateContent")
    last = bodies[-1]
    system = SESSION["request"]["system"]
    assert [part["text"] for part in last["systemInstruction"]["parts"]] == [block["text"] for block in system]
    declarations = last["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declarations] == [tool["name"] for tool in SESSION["request"]["tools"]]
    assert "-n" in declarations[2]["parameters"]["properties"]
    assert last["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    model_turns = [c for c in last["contents"] if c["role"] == "model"]
    responses = [p["functionResponse"] for c in last["contents"] for p in c["parts"] if "functionResponse" in p]
    assert "def test_parse_empty" in responses[0]["response"]["result"]
    assert "return source.split" in responses[1]["response"]["result"]  # the tool_result with list content
    assert responses[2]["response"]["result"].startswith("Error: Exit code 1")  # is_error has no Gemini field
    # each thought came back as Gemini sent it: its text, signed with the signature Gemini issued
    issued = [s.removeprefix("gemini:thought:") for s in signatures(runs["gemini"])]
    thoughts = [(p["text"], p["thoughtSignature"]) for c in model_turns for p in c["parts"] if p.get("thought")]
    assert thoughts == [(t["answer"]["reasoning"], s) for t, s in zip(TURNS[:-1], issued, strict=False)]
    # Gemini has no end-user id: Claude Code's metadata.user_id is accepted and not forwarded
    assert SESSION["request"]["metadata"]["user_id"] not in str(last) and all(
        "x-wardgate-dropped-params" not in turn.headers for turn in runs["gemini"]
    )


def test_gemini_3_signatures_come_back_on_the_function_calls(
    runs: dict[str, list[Turn]], fakes: dict[str, Any]
) -> None:
    """Gemini 3 signs the function call; the signature reaches the client in a thinking block and must come back
    on the call, exactly (the fake would also take the documented skip placeholder, so compare values)."""
    for turn, recorded in zip(runs["gemini3"], TURNS, strict=True):
        kinds = [block[0] for block in turn.blocks]
        if recorded["answer"]["text"] and recorded["answer"]["tool_calls"]:  # text closed the thinking block
            assert kinds[:3] == ["thinking", "text", "thinking"] and turn.content[2]["thinking"] == ""
        # the thought is signed only when the signed call follows it directly (no text in between)
        signed = not recorded["answer"]["text"]
        assert turn.blocks[0] == ("thinking", recorded["answer"]["reasoning"], signed)
    issued = [s.removeprefix("gemini:call:") for s in signatures(runs["gemini3"]) if s.startswith("gemini:call:")]
    assert len(issued) == sum(1 for turn in TURNS if turn["answer"]["tool_calls"])
    last = sent(fakes, "gemini3", "gemini-3-pro-preview:streamGenerateContent")[-1]
    calls = [[p for p in c["parts"] if "functionCall" in p] for c in last["contents"] if c["role"] == "model"]
    assert [turn_calls[0]["thoughtSignature"] for turn_calls in calls] == issued


def test_bedrock_received_the_translated_session(runs: dict[str, list[Turn]], fakes: dict[str, Any]) -> None:
    last = sent(fakes, "bedrock", "converse-stream")[-1]
    intro, body = (block["text"] for block in SESSION["request"]["system"])
    assert last["system"] == [
        {"text": intro},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
        {"text": body},
        {"cachePoint": {"type": "default"}},
    ]
    tools = last["toolConfig"]["tools"]
    assert [t["toolSpec"]["name"] for t in tools[:-1]] == [tool["name"] for tool in SESSION["request"]["tools"]]
    assert tools[-1] == {"cachePoint": {"type": "default", "ttl": "1h"}}
    assert last["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    assert last["requestMetadata"]["user"] == SESSION["request"]["metadata"]["user_id"]
    assistant = [m["content"] for m in last["messages"] if m["role"] == "assistant"]
    # signed reasoning first in every assistant turn, as Claude on Bedrock requires with thinking on
    reasoning = [turn[0]["reasoningContent"]["reasoningText"] for turn in assistant]
    expected = zip(TURNS[:-1], signatures(runs["bedrock"]), strict=False)
    assert reasoning == [{"text": t["answer"]["reasoning"], "signature": s} for t, s in expected]
    uses = [b["toolUse"]["toolUseId"] for turn in assistant for b in turn if "toolUse" in b]
    assert uses == [b["id"] for turn in runs["bedrock"][:-1] for b in turn.content if b["type"] == "tool_use"]
    results = [b["toolResult"] for m in last["messages"] for b in m["content"] if "toolResult" in b]
    assert results[1]["content"][0]["text"].startswith(TURNS[1]["user"][1]["content"][0]["text"][:40])
    assert results[2]["content"][0]["text"].startswith("Error: Exit code 1")


def test_openai_received_the_translated_session(fakes: dict[str, Any]) -> None:
    last = sent(fakes, "gpt", "/chat/completions")[-1]
    assert last["messages"][0]["role"] == "system"
    assert [t["function"]["name"] for t in last["tools"]] == [tool["name"] for tool in SESSION["request"]["tools"]]
    tool_messages = [m for m in last["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == sum(len(turn["answer"]["tool_calls"]) for turn in TURNS)
    assert last["user"] == SESSION["request"]["metadata"]["user_id"]
    assert "cache_control" not in orjson.dumps(last).decode()
