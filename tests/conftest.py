"""Shared fixtures: an isolated cache per test session and the shared data root (tests skip without it)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """Keep the tests' cache out of the user's ~/.cache (per session, shared by the tests)."""
    root = tmp_path_factory.mktemp("ragif-cache")
    old = os.environ.get("RAGIF_CACHE")
    os.environ["RAGIF_CACHE"] = str(root)
    yield root
    if old is None:
        os.environ.pop("RAGIF_CACHE", None)
    else:
        os.environ["RAGIF_CACHE"] = old


def shared_data(*parts: str) -> Path:
    """A path under the shared data root, or skip the test when it is absent."""
    from rag.datasets import data_root

    root = data_root()
    path = root.joinpath(*parts) if root else None
    if path is None or not path.exists():
        pytest.skip(f"shared data {'/'.join(parts)} not available")
    return path


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster with 2 workers that import ragif from this checkout (for the Ray tests)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.getcwd()}})
    yield ray
    ray.shutdown()
