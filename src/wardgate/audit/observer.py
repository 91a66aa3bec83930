"""``AuditObserver``: turns every finished request into an audit record and hands it to the trail.

On the request path it costs one record build and one spool append (a few µs); with ``audit.classify`` it also
classifies the prompt (``policy.detect``), and for teams whose content mode is not ``off`` it captures the answer
(a whole body as it is; a stream item by item) — those costs are paid only by those requests. The settings come
from the request's config snapshot, so a reload applies at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from wardgate.audit.chain import Entry
from wardgate.audit.content import StreamCapture, answer_of_body, answer_of_stream, content_block, prompt_of
from wardgate.audit.record import encode, request_record
from wardgate.audit.retention import RetentionPolicy
from wardgate.audit.trail import AuditTrail
from wardgate.config.audit_config import AuditConfig, ContentMode
from wardgate.core.types import ProxyResponse, RequestContext
from wardgate.limits.resolve import agent_of
from wardgate.policy import classify, text_of_messages

if TYPE_CHECKING:
    from wardgate.observability.events import RequestEnd

_log = logging.getLogger("wardgate.audit")
_DEFAULT = AuditConfig()


def _config(ctx: RequestContext) -> AuditConfig:
    snapshot = ctx.snapshot
    return snapshot.loaded.config.audit if snapshot is not None else _DEFAULT


class TeamSettings:
    """``audit.teams`` keyed by team id (the config may name a team by id or by name), rebuilt when the config or
    the team index changes."""

    def __init__(self, team_ids: Callable[[], Mapping[str, str]]) -> None:
        self.team_ids = team_ids
        self._key: tuple[int, int] = (0, 0)
        self._by_id: dict[str, tuple[ContentMode, float | None]] = {}

    def resolve(self, config: AuditConfig) -> dict[str, tuple[ContentMode, float | None]]:
        names = self.team_ids()
        key = (id(config), id(names))
        if key != self._key:
            by_id: dict[str, tuple[ContentMode, float | None]] = {}
            for team in config.teams:
                team_id = names.get(team, team)
                by_id[team_id] = config.for_team(team)
            self._key, self._by_id = key, by_id
        return self._by_id

    def content_mode(self, config: AuditConfig, ctx: RequestContext) -> str:
        if not config.teams:
            return config.content
        principal = ctx.principal
        team = principal.team_id if principal is not None else None
        found = self.resolve(config).get(team or "")
        return found[0] if found is not None else config.content


class AuditObserver:
    def __init__(
        self,
        trail: AuditTrail,
        agent_header: str = "x-wardgate-agent",
        teams: TeamSettings | None = None,
    ) -> None:
        self.trail = trail
        self.agent_header = agent_header
        self.teams = teams if teams is not None else TeamSettings(dict)

    def started(self, ctx: RequestContext) -> None:
        return None

    def responded(self, ctx: RequestContext, response: ProxyResponse) -> None:
        config = _config(ctx)
        if not config.enabled or self.teams.content_mode(config, ctx) == "off":
            return
        if response.stream is None:
            ctx.capture = (response.dialect, response.body)
        else:
            capture = StreamCapture(response.stream, response.dialect, config.max_content_chars * 4)
            response.stream = capture
            ctx.capture = capture

    def ended(self, end: RequestEnd) -> None:
        ctx = end.ctx
        config = _config(ctx)
        if not config.enabled:
            return
        request = end.request
        if config.classify and request.body:
            ctx.flags.update(classify(text_of_messages(prompt_of(request)), config.classify))
        principal = ctx.principal
        agent = (
            agent_of(principal, ctx.headers, self.agent_header)
            if principal is not None and principal.kind != "master"
            else None
        )
        mode = self.teams.content_mode(config, ctx)
        content = None if mode == "off" else self._content(mode, end, config.max_content_chars)
        record = request_record(end, agent=agent, content=content)
        self.trail.record(Entry.spool_form(record, encode(record)))

    @staticmethod
    def _content(mode: str, end: RequestEnd, max_chars: int) -> dict[str, Any]:
        captured = end.ctx.capture
        if isinstance(captured, StreamCapture):
            answer: dict[str, Any] | None = answer_of_stream(captured)
        elif isinstance(captured, tuple):
            answer = answer_of_body(captured[0], captured[1])
        else:
            answer = None
        return content_block(mode, prompt_of(end.request), answer, max_chars)


def retention_policy(config: AuditConfig, teams: TeamSettings) -> RetentionPolicy | None:
    """What ``audit.retention_days`` and ``audit.teams`` ask retention to purge (None: nothing)."""
    by_team = {team_id: days for team_id, (_, days) in teams.resolve(config).items()}
    if config.retention_days is None and all(days is None for days in by_team.values()):
        return None
    return RetentionPolicy(config.retention_days, by_team)
