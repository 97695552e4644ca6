"""Provenance: which code, packages, data, configuration and seed produced a table.

Nothing from the environment is recorded except package versions and the git commit: no
variables, so API keys can never leak into a results folder.
"""
from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("ragif", "pandas", "numpy", "ir-measures", "pyserini", "torch", "transformers",
            "sentence-transformers", "faiss-cpu", "faiss-gpu", "bm25s", "llama-cpp-python", "ray")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions (read from package metadata, nothing is imported)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_commit(path: str | Path | None = None) -> dict[str, Any]:
    """Commit (and whether the tree has uncommitted changes) of the git checkout holding ``path`` (default:
    ragif's code; git looks upwards from it, and an installed copy outside a checkout has no commit)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if not commit:
            return {"commit": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=10).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and (when already imported) torch's random generators."""
    import sys

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
