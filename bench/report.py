"""Turn the raw results into the published markdown: derived "added" numbers, target checks and the tables."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Results = dict[str, Any]
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Goal:
    """A target the gateway must meet: the metric's key in ``derived`` / target results, and its limit."""

    label: str
    limit: float
    at_most: bool
    unit: str
    value: Callable[[Results], float | None]

    def met(self, results: Results) -> bool | None:
        value = self.value(results)
        if value is None:
            return None
        return value <= self.limit if self.at_most else value >= self.limit

    def text(self) -> str:
        return f"{'≤' if self.at_most else '≥'} {self.limit:,g} {self.unit}".strip()


def _get(results: Results, target: str, *path: str) -> float | None:
    node: Any = results.get("targets", {}).get(target)
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return float(node) if isinstance(node, int | float) else None


def added(results: Results, target: str, *path: str, scale: float = 1.0) -> float | None:
    """``target``'s value minus direct's, times ``scale``."""
    value, base = _get(results, target, *path), _get(results, "direct", *path)
    if value is None or base is None:
        return None
    return (value - base) * scale


TRANSLATED = {"wardgate→anthropic": "Anthropic", "wardgate→gemini": "Gemini", "wardgate→bedrock": "Bedrock"}
TRANSLATION_LIMIT_US = 100.0


def over_wardgate(results: Results, target: str, *path: str, scale: float = 1.0) -> float | None:
    """``target``'s value minus the same-dialect wardgate target's, times ``scale``."""
    value, base = _get(results, target, *path), _get(results, "wardgate", *path)
    if value is None or base is None:
        return None
    return (value - base) * scale


def translation_goal(target: str, provider: str) -> Goal:
    return Goal(
        f"Translation overhead, CPU per non-streaming request: {provider}",
        TRANSLATION_LIMIT_US,
        True,
        "µs",
        lambda r: over_wardgate(r, target, "cpu_us_per_request"),
    )


GOALS = (
    Goal("CPU per non-streaming request", 300, True, "µs", lambda r: _get(r, "wardgate", "cpu_us_per_request")),
    Goal("Non-streaming requests/s, one worker", 2500, False, "req/s", lambda r: _get(r, "wardgate", "rps", "rps")),
    Goal(
        "Added latency at concurrency 1 (mean)",
        0.5,
        True,
        "ms",
        lambda r: added(r, "wardgate", "c1", "latency_us", "mean", scale=1e-3),
    ),
    Goal("Added TTFT (median)", 3, True, "ms", lambda r: added(r, "wardgate", "ttft", "ttft_median_ms")),
    Goal("CPU per 20-chunk stream", 2000, True, "µs", lambda r: _get(r, "wardgate", "cpu_us_per_stream")),
    Goal("Peak RSS", 120, True, "MiB", lambda r: _get(r, "wardgate", "peak_rss_mib")),
    *(translation_goal(target, provider) for target, provider in TRANSLATED.items()),
)


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _signed(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:+,.{digits}f}"


@dataclass(frozen=True)
class Row:
    label: str
    cell: Callable[[Results, str], str]


def _ms(path: tuple[str, ...], scale: float = 1e-3, digits: int = 3) -> Callable[[Results, str], str]:
    def cell(results: Results, target: str) -> str:
        value = _get(results, target, *path)
        return _num(None if value is None else value * scale, digits)

    return cell


def _added_ms(path: tuple[str, ...], scale: float = 1e-3, digits: int = 3) -> Callable[[Results, str], str]:
    return lambda r, t: "—" if t == "direct" else _signed(added(r, t, *path, scale=scale), digits)


def _gateway_only(path: tuple[str, ...], digits: int = 0, note: str = "") -> Callable[[Results, str], str]:
    def cell(results: Results, target: str) -> str:
        text = _num(_get(results, target, *path), digits)
        return f"{text} {note}".strip() if target == "direct" and text != "—" else text

    return cell


def _spread(results: Results, target: str, kind: str) -> str:
    runs = results.get("targets", {}).get(target, {}).get("runs", {}).get(kind, [])
    values = [run["cpu_us_per_request"] for run in runs if run.get("cpu_us_per_request") is not None]
    if not values:
        return "—"
    return f"{min(values):,.0f} to {max(values):,.0f}" if len(values) > 1 else f"{values[0]:,.0f}"


def _probe(results: Results, target: str) -> str:
    runs = results.get("targets", {}).get(target, {}).get("runs", {})
    values = sorted(run["cpu"]["probe_ms"] for kind in runs.values() for run in kind if "probe_ms" in run["cpu"])
    return f"{values[(len(values) - 1) // 2]:.1f}" if values else "—"


ROWS = (
    Row("Max RPS, non-streaming (c=64)", lambda r, t: _num(_get(r, t, "rps", "rps"))),
    Row("Latency c=1, mean (ms)", _ms(("c1", "latency_us", "mean"))),
    Row("Added latency c=1, mean (ms)", _added_ms(("c1", "latency_us", "mean"))),
    Row("Added latency c=1, p50 (ms)", _added_ms(("c1", "latency_us", "p50"))),
    Row("Added latency c=1, p99 (ms)", _added_ms(("c1", "latency_us", "p99"))),
    Row("Added wall time per request c=1, duration / requests (ms)", _added_ms(("c1", "wall_us_per_request"))),
    Row("CPU µs / request (c=64)", _gateway_only(("cpu_us_per_request",), note="(upstream)")),
    Row("CPU µs / request (c=64), min-max of runs", lambda r, t: _spread(r, t, "rps")),
    Row("CPU µs / request (c=1)", _gateway_only(("cpu_us_per_request_c1",), note="(upstream)")),
    Row("TTFT median (ms)", _ms(("ttft", "ttft_median_ms"), scale=1.0)),
    Row("Added TTFT median (ms)", _added_ms(("ttft", "ttft_median_ms"), scale=1.0)),
    Row("Added TTFT p99 (ms)", _added_ms(("ttft", "ttft_p99_ms"), scale=1.0)),
    Row("Streams/s, 20 chunks (c=16)", lambda r, t: _num(_get(r, t, "stream", "rps"))),
    Row("CPU µs / 20-chunk stream", _gateway_only(("cpu_us_per_stream",), note="(upstream)")),
    Row("CPU µs / stream, min-max of runs", lambda r, t: _spread(r, t, "stream")),
    Row("Peak RSS (MiB)", _gateway_only(("peak_rss_mib",), digits=1, note="(upstream)")),
    Row("CPU speed probe, median (ms; lower = faster)", _probe),
)


def row_lines(rows: Sequence[Row], results: Results, targets: Sequence[str]) -> list[str]:
    return [f"| {row.label} | " + " | ".join(row.cell(results, t) for t in targets) + " |" for row in rows]


def measurements_table(results: Results) -> str:
    names = {"direct": "direct (upstream)", "wardgate": "wardgate", **{t: t for t in TRANSLATED}, "litellm": "LiteLLM"}
    targets = [t for t in names if t in results.get("targets", {})]
    lines = [
        "| Metric | " + " | ".join(names[t] for t in targets) + " |",
        "|---|" + "---:|" * len(targets),
    ]
    return "\n".join(lines + row_lines(ROWS, results, targets))


def goals_table(results: Results) -> str:
    lines = ["| wardgate target | Goal | Measured | Status |", "|---|---:|---:|---|"]
    for goal in GOALS:
        value, met = goal.value(results), goal.met(results)
        if value is None and goal.label.startswith("Translation"):
            continue  # translation not measured in this run
        status = "—" if met is None else ("met" if met else "**not met**")
        digits = 2 if goal.unit == "ms" else (1 if goal.unit == "MiB" else 0)
        lines.append(f"| {goal.label} | {goal.text()} | {_num(value, digits)} {goal.unit} | {status} |")
    return "\n".join(lines)


def paired_differences(results: Results, target: str, kind: str) -> list[float]:
    """Per round, the target's CPU per request minus wardgate's in the same round (runs are interleaved, so run
    ``i`` of both was taken minutes apart at most: this cancels most of the machine's speed drift)."""
    runs = results.get("targets", {})
    mine = runs.get(target, {}).get("runs", {}).get(kind, [])
    base = runs.get("wardgate", {}).get("runs", {}).get(kind, [])
    pairs = zip(mine, base, strict=False)
    return [
        a["cpu_us_per_request"] - b["cpu_us_per_request"]
        for a, b in pairs
        if a.get("cpu_us_per_request") is not None and b.get("cpu_us_per_request") is not None
    ]


def _range(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{min(values):+,.0f} to {max(values):+,.0f}" if len(values) > 1 else f"{values[0]:+,.0f}"


def _translation_status(results: Results, target: str) -> str:
    value = over_wardgate(results, target, "cpu_us_per_request")
    if value is None:
        return "—"
    status = "met" if value <= TRANSLATION_LIMIT_US else "**not met**"
    rounds = paired_differences(results, target, "rps")
    if rounds and min(rounds) <= TRANSLATION_LIMIT_US < max(rounds):
        status += " (rounds straddle the limit)"
    return status


def _rps_pair(results: Results, target: str) -> str:
    return f"{_num(_get(results, target, 'rps', 'rps'))} / {_num(_get(results, 'wardgate', 'rps', 'rps'))}"


def _over(path: tuple[str, ...], digits: int, scale: float = 1.0) -> Callable[[Results, str], str]:
    return lambda r, t: _signed(over_wardgate(r, t, *path, scale=scale), digits)


TRANSLATION_ROWS = (
    Row("CPU µs / request (c=64), translated", lambda r, t: _num(_get(r, t, "cpu_us_per_request"))),
    Row("CPU µs / request (c=64), same-dialect wardgate", lambda r, t: _num(_get(r, "wardgate", "cpu_us_per_request"))),
    Row(
        f"**Translation overhead, CPU µs / request** (goal ≤ {TRANSLATION_LIMIT_US:,.0f})",
        lambda r, t: f"**{_signed(over_wardgate(r, t, 'cpu_us_per_request'), 0)}**",
    ),
    Row("Status", _translation_status),
    Row("Overhead per round (same round's runs), min to max", lambda r, t: _range(paired_differences(r, t, "rps"))),
    Row("Max RPS (c=64), translated / same-dialect", lambda r, t: _rps_pair(r, t)),
    Row("Latency c=1 mean over same-dialect (ms)", _over(("c1", "latency_us", "mean"), 3, scale=1e-3)),
    Row("CPU µs / 20-chunk stream over same-dialect", _over(("cpu_us_per_stream",), 0)),
    Row("Stream overhead per round, min to max", lambda r, t: _range(paired_differences(r, t, "stream"))),
    Row("TTFT median over same-dialect (ms)", _over(("ttft", "ttft_median_ms"), 3)),
)


def translation_table(results: Results) -> str | None:
    targets = [t for t in TRANSLATED if t in results.get("targets", {})]
    if not targets or "wardgate" not in results.get("targets", {}):
        return None
    lines = [
        "| Translation over the same-dialect path | " + " | ".join(TRANSLATED[t] for t in targets) + " |",
        "|---|" + "---:|" * len(targets),
    ]
    return "\n".join(lines + row_lines(TRANSLATION_ROWS, results, targets))


def meta_lines(results: Results) -> str:
    meta = results.get("meta", {})
    facts = [
        ("Date", meta.get("date")),
        ("Machine", f"{meta.get('nproc')} CPUs, {meta.get('cpu_model')}, Linux {meta.get('kernel')}"),
        ("Python", meta.get("python")),
        ("wardgate", f"{meta.get('wardgate_version')} (git {meta.get('git_commit')})"),
        ("LiteLLM", meta.get("litellm_version") or "not run"),
        ("Load generator", meta.get("wrk_version")),
        ("Upstream", meta.get("upstream")),
        ("CPU pinning", meta.get("pinning")),
        ("Run", meta.get("run")),
        ("Load average at start", meta.get("loadavg")),
    ]
    return "\n".join(f"- **{name}:** {value}" for name, value in facts if value)


def render(results: Results) -> str:
    translation = translation_table(results)
    tables = [goals_table(results), measurements_table(results), *([translation] if translation else [])]
    return "\n\n".join([meta_lines(results), *tables, *_warnings(results)])


def _warnings(results: Results) -> list[str]:
    notes = results.get("warnings") or []
    return ["Warnings:\n\n" + "\n".join(f"- {note}" for note in notes)] if notes else []


def update_readme(readme: Path, results: Results) -> None:
    """Replace the block between the result markers (appended when the markers are missing)."""
    block = f"{START}\n{render(results)}\n{END}"
    text = readme.read_text() if readme.exists() else ""
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)
