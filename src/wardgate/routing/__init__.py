"""Routing: from the model a client names to the deployment that answers, on a good day and a bad one.

Owns the route table (``table``: names and aliases → deployments by priority, fallbacks, long-context target, built
once per config snapshot) and the terminal pipeline handler (``execute.Router``), with its parts:

- ``facts``: what routing needs from a request (token estimate, conversation key, sensitive flag), lazily;
- ``strategies``: priority, weighted, lowest latency, least busy, lowest cost, sticky rendezvous hashing;
- ``candidates``: content rules (sensitive tags, context windows, long context) and the walk over the model's
  deployments then its fallbacks', each group gated by the breaker board;
- ``attempt``: one attempt under the deadline, a stream's first event awaited, outcomes recorded;
- ``retry``: classification, ``Retry-After``, full-jitter backoff, the retry budget;
- ``deadline``: the overall deadline and ``x-wardgate-timeout``;
- ``breaker`` (+ ``breaker_state``, ``breaker_shared``): circuit breakers per deployment, shared through Redis;
- ``health``: per-deployment statistics; ``admission``: in-flight limit with a short queue (used by
  ``api.proxy``); ``state``: what outlives snapshots (``AppState.routing``).

Must not import ``api``, ``stages`` or ``storage``.
"""
