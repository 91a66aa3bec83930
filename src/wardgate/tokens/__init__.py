"""Tokens: how many tokens a request's prompt holds, and how many the provider says a call used.

Owns the model → encoding table (``encodings``), prompt counting with the bundled-vocabulary counter toktok-rs
(``count``: exact for OpenAI models, a documented cl100k_base estimate for every other provider, stored on the
request so later stages never count again) and usage extraction from whole response bodies and from streams
(``usage``), which reconciliation after the call reads.

Pure functions over ``core`` types; no I/O and nothing downloaded at run time. Must not import ``api``,
``routing``, ``stages`` or ``storage``.
"""
