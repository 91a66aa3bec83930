"""The one error type of the simulated provider: a request the engine cannot answer (maps to HTTP 400)."""

from __future__ import annotations

__all__ = ["SimulatedRequestError"]


class SimulatedRequestError(ValueError):
    """The request body is invalid; ``param`` names the offending field, as OpenAI's error object does."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
