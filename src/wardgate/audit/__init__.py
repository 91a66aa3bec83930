"""The audit trail: one record per proxy request and per admin change, append-only and hash-chained.

Owns: the record (``record``: what is kept, its canonical JSON), the chain (``chain``: appending under the head
lock, hashing, sealing), the trail (``trail``: the request path's hand-off to a durable local spool and the shipper
that writes batches to the database), verification (``verify``), retention (``retention``), forwarding to sinks
(``forward``, ``sinks``) and the compliance reports (``reports``). Must not import ``api``, ``routing`` or
``providers``.
"""
