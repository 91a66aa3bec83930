"""Azure OpenAI: the OpenAI dialect at deployment URLs with ``api-version`` and the ``api-key`` header.
https://learn.microsoft.com/azure/ai-services/openai/reference"""
