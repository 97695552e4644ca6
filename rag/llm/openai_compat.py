"""Old location of the OpenAI-compatible backend; it lives in :mod:`rag.llm.backends.openai`."""
from .backends.openai import OpenAICompatibleLLM
from .errors import EmptyReplyError, LLMServerError

__all__ = ["OpenAICompatibleLLM", "LLMServerError", "EmptyReplyError"]
