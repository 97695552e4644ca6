"""Old location of the offline GGUF models; they live in :mod:`rag.llm.gguf`."""
from rag.llm.gguf import GGUF_MODELS, QWEN_05B, SplitGGUF

__all__ = ["GGUF_MODELS", "QWEN_05B", "SplitGGUF"]
