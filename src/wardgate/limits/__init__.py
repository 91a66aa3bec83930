"""Token-aware rate limits: what applies to a request (``resolve``), the two engines that hold the counters —
in memory for embedded mode (``memory``), Redis for shared mode (``redis_engine``, one Lua round trip per request)
with a per-limit fallback when Redis is unreachable (``shared``) — admission before the call and reconciliation
with the provider's reported usage after it (``admission``), and the client-facing headers (``headers``).

Every limit is a token bucket (``buckets``): capacity C refilling C per period, so nothing ever needs resetting and
a reservation a crashed process never settled fades as the bucket refills; concurrency limits are leases that
expire. Must not import ``api`` or ``stages``.
"""
