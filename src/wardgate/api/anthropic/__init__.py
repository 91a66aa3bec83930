"""The inbound Anthropic dialect: ``POST /v1/messages`` and ``/v1/messages/count_tokens`` for Anthropic-speaking
clients (Claude Code and the ``anthropic`` SDK). To an Anthropic deployment the request passes through untouched
apart from the model; to any other provider it is translated to the canonical OpenAI form and back
(``translate/``). Must not import ``providers`` or ``storage``."""
