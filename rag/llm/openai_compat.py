"""Old location of the OpenAI-compatible backend; it lives in :mod:`rag.llm.backends.openai`."""
from rag.llm.backends.openai import OpenAICompatibleLLM
from rag.llm.errors import EmptyReplyError, LLMServerError

__all__ = ["OpenAICompatibleLLM", "LLMServerError", "EmptyReplyError"]
