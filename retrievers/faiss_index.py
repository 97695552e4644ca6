"""FAISS index types (registry kind ``vector-index``): ``flat`` (exact), ``hnsw``, ``ivfpq`` (compressed, with a
trained quantiser) and ``auto`` (flat below :data:`AUTO_THRESHOLD` vectors, IVF-PQ above); an existing FAISS file
is read by :func:`read_faiss`. Scores are inner products; on GPU when one is usable (faiss-gpu and faiss-cpu
install the same ``faiss`` module; HNSW has no GPU implementation and stays on the CPU).

Bytes per vector (d dimensions): flat and HNSW keep the float32 rows (4d, plus 8M links for HNSW); IVF-PQ keeps a
``pq_m``-byte code and an 8-byte id (about 27x smaller at d=384, pq_m=48). ``experiments/bench_dense_scale.py``
measures memory, search time and recall@10 of each.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rag.core.errors import InputError, MissingDependencyError

log = logging.getLogger(__name__)

# From this many vectors `index: auto` builds IVF-PQ instead of an exact index. Measured (bench_dense_scale.py,
# 384-d, one thread on a loaded 2-core VM): exact search took 10.7 ms per query at 300k vectors and 40.9 ms at 1M
# (linear: ~80 ms at 2M) in 1,536 bytes per vector (3.1 GB at 2M); IVF-PQ at 1M took 0.4 ms in 63 bytes, recall@10
# 0.58 alone and 0.95 with `rescore: 4`. Below 2M exact search stays under ~0.1 s per query and 3 GB, and is exact.
AUTO_THRESHOLD = 2_000_000
FILE = "index.faiss"


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


class FaissIndex:
    """A :class:`retrievers.vector_index.VectorIndex` over one ``faiss.Index``."""

    def __init__(self, index: Any, min_train_size: int = 0):
        self.index = index
        self.min_train_size = min_train_size

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def needs_training(self) -> bool:
        return not self.index.is_trained

    def train(self, sample: np.ndarray) -> None:
        self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def add(self, vectors: np.ndarray) -> None:
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(int(k), self.ntotal)
        if k < 1:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, folder: Path) -> None:
        _faiss().write_index(faiss_cpu(self.index), str(Path(folder) / FILE))

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The stored vectors of ``rows`` (exact indexes; others raise :class:`InputError`)."""
        try:
            return np.stack([self.index.reconstruct(int(r)) for r in rows]) if len(rows) else \
                np.zeros((0, self.dimension), np.float32)
        except RuntimeError as exc:
            raise InputError(f"this FAISS index ({type(self.index).__name__}) cannot give its vectors back, so it "
                             f"cannot re-rank given candidates: {str(exc).splitlines()[0]}", field="rerank") from None

    def to_device(self, device: str = "auto") -> "FaissIndex":
        """This index on a GPU when ``device`` asks for one (or ``auto`` finds one); HNSW stays on the CPU."""
        faiss = _faiss()
        use_gpu = device.startswith("cuda") or (device == "auto" and gpu_available())
        if not use_gpu or isinstance(self.index, faiss.IndexHNSW):
            return self
        if not gpu_available():
            raise MissingDependencyError("faiss-gpu-cu12", extra="gpu", purpose="FAISS search on a GPU")
        resources = faiss.StandardGpuResources()
        gpu = faiss.index_cpu_to_gpu(resources, int(device.split(":")[1]) if ":" in device else 0, self.index)
        gpu._ragif_resources = resources  # keep the resources alive with the index
        return FaissIndex(gpu, self.min_train_size)


def faiss_cpu(index: Any) -> Any:
    faiss = _faiss()
    return faiss.index_gpu_to_cpu(index) if hasattr(faiss, "GpuIndex") and isinstance(index, faiss.GpuIndex) else index


def read_faiss(path: Path, nprobe: int | None = None, ef_search: int | None = None) -> FaissIndex:
    """An existing FAISS index file (Pyserini's ``index``, FlashRAG's ``*.index``), with its search parameters."""
    faiss = _faiss()
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise InputError(f"not a FAISS index file: {str(exc).strip().splitlines()[-1]}", path=path) from None
    if index.metric_type != faiss.METRIC_INNER_PRODUCT:
        log.warning("%s scores by L2 distance, not inner product: scores are negated distances' order", path)
    ivf = faiss.try_extract_index_ivf(index) if hasattr(faiss, "try_extract_index_ivf") else None
    if ivf is not None and nprobe:
        ivf.nprobe = int(nprobe)
    if isinstance(index, faiss.IndexHNSW) and ef_search:
        index.hnsw.efSearch = int(ef_search)
    return FaissIndex(index)


# ----------------------------------------------------------------------------------------- index types
@dataclass
class Flat:
    """Exact inner-product search over every vector (rebuilt from the cached vectors, not stored twice)."""

    persist: ClassVar[bool] = False

    def resolve(self, count: int) -> "Flat":
        return self

    def identity(self) -> dict[str, Any]:
        return {"kind": "flat"}

    def create(self, dim: int, count: int) -> FaissIndex:
        return FaissIndex(_faiss().IndexFlatIP(dim))

    def load(self, folder: Path) -> FaissIndex:
        return read_faiss(Path(folder) / FILE)


@dataclass
class HNSW:
    """A graph index over the float32 vectors (approximate; faster than exact search, not smaller)."""

    hnsw_m: int = 32  # HNSW links per node
    ef_construction: int = 200  # HNSW build breadth
    ef_search: int = 128  # HNSW search breadth
    persist: ClassVar[bool] = True

    def resolve(self, count: int) -> "HNSW":
        return self

    def identity(self) -> dict[str, Any]:
        return {"kind": "hnsw", "m": self.hnsw_m, "ef_construction": self.ef_construction}

    def create(self, dim: int, count: int) -> FaissIndex:
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return FaissIndex(index)

    def load(self, folder: Path) -> FaissIndex:
        return read_faiss(Path(folder) / FILE, ef_search=self.ef_search)


@dataclass
class IVFPQ:
    """Inverted lists over a trained coarse quantiser, vectors stored as product-quantised codes (compressed:
    ``pq_m`` bytes per vector; approximate, its recall@10 against exact search is measured when it is built)."""

    nlist: int = 0  # IVF lists (0: about 4 sqrt(n), at most n/39)
    pq_m: int = 0  # PQ sub-quantisers = bytes per vector (0: dim/8, rounded to a divisor of dim: 8-d sub-vectors train ~10x faster in FAISS than 4-d ones)
    pq_bits: int = 8  # bits per PQ code
    nprobe: int = 16  # IVF lists searched per query
    persist: ClassVar[bool] = True

    def resolve(self, count: int) -> "IVFPQ":
        return self

    def lists(self, count: int) -> int:
        nlist = self.nlist or max(1, int(4 * np.sqrt(count)))
        return max(1, min(nlist, count // 39))          # FAISS wants >= 39 training points per list

    def identity(self) -> dict[str, Any]:
        return {"kind": "ivfpq", "nlist": self.nlist, "pq_m": self.pq_m, "pq_bits": self.pq_bits}

    def create(self, dim: int, count: int) -> FaissIndex:
        faiss = _faiss()
        m = self.pq_m or max(1, dim // 8)
        if dim % m:
            if self.pq_m:
                raise InputError(f"pq_m must divide the vectors' dimension {dim}, got {self.pq_m}", field="index_params")
            while dim % m:
                m -= 1
        nlist = self.lists(count)
        bits = int(min(self.pq_bits, max(1, np.floor(np.log2(max(count / 39, 2))))))   # 39 points per centroid
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, m, bits, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = self.nprobe
        return FaissIndex(index, min_train_size=min(count, 39 * max(nlist, 2 ** bits)))

    def load(self, folder: Path) -> FaissIndex:
        return read_faiss(Path(folder) / FILE, nprobe=self.nprobe)


@dataclass
class Auto:
    """``flat`` (exact) below ``threshold`` vectors, ``ivfpq`` (compressed) from there on."""

    threshold: int = AUTO_THRESHOLD  # vectors from which IVF-PQ is built instead of an exact index
    nlist: int = 0  # IVF lists of the IVF-PQ index (0: about 4 sqrt(n))
    pq_m: int = 0  # PQ bytes per vector (0: dim/8)
    nprobe: int = 16  # IVF lists searched per query
    persist: ClassVar[bool] = False

    def resolve(self, count: int) -> Flat | IVFPQ:
        return IVFPQ(self.nlist, self.pq_m, nprobe=self.nprobe) if count >= self.threshold else Flat()

    def identity(self) -> dict[str, Any]:
        return {"kind": "auto", "threshold": self.threshold, "nlist": self.nlist, "pq_m": self.pq_m}

    def create(self, dim: int, count: int) -> FaissIndex:
        return self.resolve(count).create(dim, count)

    def load(self, folder: Path) -> FaissIndex:  # pragma: no cover - resolved before anything is saved
        raise NotImplementedError("resolve(count) first")
