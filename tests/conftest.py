"""Shared fixtures: an isolated cache per test session and the shared data root (tests skip without it)."""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def _pin_data_root() -> None:
    """The shared data as found from where pytest started, kept for tests that change the working directory."""
    from rag.datasets import data_root

    root = data_root()
    if root is not None:
        os.environ.setdefault("RAGIF_DATA", str(root))


_pin_data_root()


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


@pytest.fixture
def scratch_registry(monkeypatch):
    """The component registry as it is now; what the test registers is gone afterwards."""
    from rag.core import registry
    monkeypatch.setattr(registry, "_REGISTERED", {kind: dict(found) for kind, found in registry._REGISTERED.items()})
    return registry


def shared_data(*parts: str) -> Path:
    """A path under the shared data root, or skip the test when it is absent."""
    from rag.datasets import data_root

    root = data_root()
    path = root.joinpath(*parts) if root else None
    if path is None or not path.exists():
        pytest.skip(f"shared data {'/'.join(parts)} not available")
    return path


@pytest.fixture(scope="session")
def ray_cluster():
    """A local one-node Ray cluster with 2 CPUs, bound to 127.0.0.1, whose workers import ragif from this
    checkout (``rag.core.executor.ray_init``); started once, in this process, where Lucene tests run a JVM too."""
    pytest.importorskip("ray")
    from rag.core.executor import ray_init, ray_shutdown

    saved = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")  # loopback only; nothing to report
    ray_init(num_cpus=2)
    yield
    ray_shutdown()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


BARE_RUN_QUESTIONS = 2                         # of the demo set's 14: q01 and q02
BARE_RUN_SECRET = "sk-should-never-appear"     # in OPENAI_API_KEY while the bare run runs (tests/test_secrets.py)


@dataclass
class BareRun:
    code: int                # what `main(["run", "-o", folder])` returned
    out: str                 # what it printed
    folder: Path             # its results folder
    configs: list[Path]      # the config files it read


@pytest.fixture(scope="session")
def bare_run(tmp_path_factory) -> BareRun:
    """README command 1, ``ragif run`` without a config (rag/configs/default.yaml: closed-book and three
    retrieve-then-read systems with the offline Qwen reader), run once per session for the tests that read its
    output, on the default config's first 2 questions: the whole job is 56 reader calls (2-4.5 minutes on 2
    cores); ``tests/test_cli.py::test_bare_run_on_all_14_questions`` (slow) runs all of them. The only change
    to the config is the ``queries: {limit: 2}`` added after it is read. ``OPENAI_API_KEY`` holds a secret
    meanwhile, which no file written may contain."""
    import rag.core.config as core_config
    from rag.cli import main
    from rag.cli.run import DEFAULT_CONFIG

    read = core_config.load_yaml
    configs: list[Path] = []

    def first_questions(path):
        config = read(path)
        configs.append(Path(path))
        if Path(path) == DEFAULT_CONFIG:
            assert "queries" not in config, "the default job selects questions itself now: update this fixture"
            config["queries"] = {"limit": BARE_RUN_QUESTIONS}
        return config

    folder = tmp_path_factory.mktemp("bare-run") / "demo"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out):
        patch.setattr(core_config, "load_yaml", first_questions)
        patch.setenv("OPENAI_API_KEY", BARE_RUN_SECRET)
        code = main(["run", "-o", str(folder)])
    return BareRun(code, out.getvalue(), folder, configs)
