"""FAISS indexes over dense vectors: exact inner product, HNSW, IVF-PQ; on GPU when one is usable.

faiss-gpu and faiss-cpu install the same ``faiss`` module; :func:`gpu_available` tells them apart
at run time, so the same code runs on both. HNSW has no GPU implementation and stays on the CPU.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rag.core.errors import ConfigError, MissingDependencyError

log = logging.getLogger(__name__)

IndexKind = Literal["flat", "hnsw", "ivfpq"]


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", extra="cpu", purpose="dense retrieval indexes") from exc
    return faiss


def gpu_available() -> bool:
    """True when the installed faiss has GPU support and sees at least one GPU."""
    faiss = _faiss()
    try:
        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    except Exception:
        return False


@dataclass(frozen=True)
class IndexSpec:
    """How to index: ``kind`` and its parameters (unused ones are ignored)."""

    kind: IndexKind = "flat"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 0          # IVF lists; 0 = about 4*sqrt(n)
    pq_m: int = 0           # PQ sub-quantisers; 0 = dim/4 rounded to a divisor of dim
    pq_bits: int = 8
    nprobe: int = 16

    def __post_init__(self) -> None:
        if self.kind not in ("flat", "hnsw", "ivfpq"):
            raise ConfigError(f"index must be 'flat', 'hnsw' or 'ivfpq', got {self.kind!r}", field="index")


def _pq_m(dim: int, wanted: int) -> int:
    m = wanted or max(1, dim // 4)
    while dim % m:
        m -= 1
    return m


def build(vectors: np.ndarray, spec: IndexSpec, seed: int = 0):
    """A CPU FAISS index over ``vectors`` (float32 rows) with inner-product scores (IVF training is
    deterministic: FAISS k-means uses a fixed seed; ``seed`` picks the training sample)."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = x.shape
    if spec.kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
    else:
        nlist = spec.nlist or max(1, int(4 * np.sqrt(n)))
        nlist = min(nlist, max(1, n // 39))          # FAISS wants >= 39 training points per list
        bits = int(min(spec.pq_bits, max(1, np.floor(np.log2(max(n / 39, 2))))))  # 39 points per centroid
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, _pq_m(dim, spec.pq_m), bits, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = x if n <= 100_000 else x[np.sort(rng.choice(n, 100_000, replace=False))]
        index.train(sample)
    index.add(x)
    return index


def prepare_for_search(index, spec: IndexSpec, device: str = "auto"):
    """Set search-time parameters and move the index to a GPU when asked/possible."""
    faiss = _faiss()
    if spec.kind == "hnsw":
        index.hnsw.efSearch = spec.ef_search
    elif spec.kind == "ivfpq":
        index.nprobe = spec.nprobe
    use_gpu = device.startswith("cuda") or (device == "auto" and gpu_available())
    if use_gpu and spec.kind != "hnsw":
        if not gpu_available():
            raise MissingDependencyError("faiss-gpu-cu12", extra="gpu", purpose="FAISS search on a GPU")
        resources = faiss.StandardGpuResources()
        gpu_id = int(device.split(":")[1]) if ":" in device else 0
        index = faiss.index_cpu_to_gpu(resources, gpu_id, index)
        index._ragif_resources = resources  # keep the resources alive with the index
        log.info("FAISS %s index on GPU %d", spec.kind, gpu_id)
    return index


def save(index, path: Path) -> None:
    _faiss().write_index(index, str(path))


def load(path: Path):
    return _faiss().read_index(str(path))


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` scores and row ids per query (ids of -1 mark empty slots)."""
    k = min(int(k), index.ntotal)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, ids
