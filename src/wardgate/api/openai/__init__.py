"""The inbound OpenAI dialect: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models`` (also without ``/v1``)."""
