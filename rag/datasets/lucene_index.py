"""Existing Lucene indexes (Anserini, Pyserini, ragif's own) as corpora: found by path or prebuilt name,
identified by their own commit, their stored documents served by id.

- :func:`resolve_index`: a folder, else a name looked up in ``$RAGIF_INDEXES/<name>``, then in Pyserini's
  download folder (``$PYSERINI_CACHE``, default ``~/.cache/pyserini``) as Pyserini's prebuilt index of that
  name; downloaded only with ``download=True`` and where its hub is reachable.
- :func:`index_identity`: what an index is, for cache keys: its latest commit point (the ``segments_N``
  file: generation, segment names and random ids, codecs) and the size of every file; never a hash of a
  corpus, and read in milliseconds whatever the index size.
- :class:`LuceneIndexCorpus`: a :class:`~rag.datasets.base.Corpus` whose documents are the index's stored
  ones (``raw``, as Pyserini's ``--storeRaw`` keeps them, else ``contents``), its docstore
  :class:`LuceneDocStore`.

Title and text of a stored document: the ``title`` and ``text`` keys of its raw JSON when it has them; else
its ``contents`` - without the ``title`` in front when ragif indexed title and text as one field - and when
it has no ``title`` key either, ``contents`` is split at its first line break (title, then text), the layout
of Pyserini's Wikipedia indexes (``wikipedia-dpr-100w``) that its DPR evaluation reads the same way.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterator, Sequence

from rag.core import java
from rag.core.errors import InputError, did_you_mean
from rag.core.hashing import hash_bytes, hash_config
from rag.datasets.base import Corpus, Doc
from rag.datasets.docstore import LookupDocStore

INDEXES_ENV = "RAGIF_INDEXES"
_SEGMENTS = re.compile(r"^segments_([0-9a-z]+)$")


# ---------------------------------------------------------------------- finding and identifying an index
def commit_file(folder: Path) -> Path | None:
    """The newest ``segments_N`` file of a Lucene index folder (None when it is not one)."""
    best, generation = None, -1
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in names:
        match = _SEGMENTS.match(name)
        if match and int(match[1], 36) > generation:
            best, generation = folder / name, int(match[1], 36)
    return best


def index_identity(folder: str | Path) -> str:
    """The index's identity: its newest commit file's name and bytes and every file's name and size."""
    folder = Path(folder)
    commit = commit_file(folder)
    if commit is None:
        raise InputError("not a Lucene index (no segments_N file)", path=folder)
    sizes = sorted((e.name, e.stat().st_size) for e in os.scandir(folder) if e.is_file() and e.name != "write.lock")
    return hash_config("lucene-index-identity", commit.name, hash_bytes(commit.read_bytes()), sizes)


def _prebuilt_info(name: str) -> dict | None:
    java.configure()   # Pyserini's table of prebuilt indexes lives in Anserini's jar
    from pyserini.prebuilt_index_info import TF_INDEX_INFO

    return TF_INDEX_INFO.get(name)


def _prebuilt_names() -> list[str]:
    java.configure()
    from pyserini.prebuilt_index_info import TF_INDEX_INFO

    return list(TF_INDEX_INFO)


def resolve_index(spec: str | Path, download: bool = False) -> Path:
    """The folder of the Lucene index ``spec`` names (a path, or a name: see the module's docstring)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if commit_file(path) is None:
            raise InputError("not a Lucene index folder (no segments_N file)", path=path, field="index")
        return path
    name = str(spec)
    if os.sep in name or name.startswith((".", "~")):
        raise InputError("Lucene index folder not found", path=path, field="index")
    local = os.environ.get(INDEXES_ENV)
    if local and commit_file(Path(local) / name) is not None:
        return Path(local) / name
    info = _prebuilt_info(name)
    if info is None:
        raise InputError(f"no Lucene index folder {name!r} and no Pyserini prebuilt index of that name"
                         f"{did_you_mean(name, _prebuilt_names())}", field="index")
    from pyserini.util import get_cache_home

    stem = re.sub(r"\.tar\.gz.*$", "", info.get("filename") or info["urls"][0].split("/")[-1])
    cached = Path(get_cache_home()) / "indexes" / f"{stem}.{info['md5']}"
    if commit_file(cached) is not None:
        return cached
    if not download:
        where = f"{cached}" + (f" or {Path(local) / name}" if local else "")
        size = info.get("size compressed (bytes)", 0) / 1e9
        raise InputError(f"Pyserini prebuilt index {name!r} not found on this machine (looked for {where}); put "
                         f"it in ${INDEXES_ENV}, or let Pyserini fetch it where its hub is reachable ({size:.1f} GB: "
                         f"download: true on a retriever, corpus_download: true on a data set)", field="index")
    from pyserini.util import download_prebuilt_index

    try:
        return Path(download_prebuilt_index(name, verbose=False))
    except Exception as exc:   # network errors come as URLError, ValueError, OSError...
        raise InputError(f"cannot download Pyserini prebuilt index {name!r}: {str(exc).splitlines()[0][:200]}",
                         field="index") from None


# ---------------------------------------------------------------------- stored documents
def title_and_text(raw: str | None, contents: str | None) -> tuple[str, str]:
    """Title and text of a stored document (see the module's docstring for the rule)."""
    if raw is not None:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            return "", raw                      # raw text that is not a JSON object (TREC, HTML...)
        if isinstance(obj.get("text"), str):
            return str(obj.get("title") or ""), obj["text"]
        contents = str(obj.get("contents") or "")
        if isinstance(obj.get("title"), str):
            title = obj["title"]
            if title and contents.startswith(title + "\n"):
                return title, contents[len(title) + 1:]
            return title, contents
    title, newline, text = (contents or "").partition("\n")
    return (title, text) if newline else ("", title)


class LuceneIndex:
    """An open Lucene index: document count and stored documents by id (one reader, opened lazily)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._reader = None
        self._searcher = None

    def __getstate__(self) -> dict:   # Java objects do not travel to another process
        return {"folder": self.folder, "_reader": None, "_searcher": None}

    @property
    def reader(self):
        if self._reader is None:
            self._reader = java.autoclass("io.anserini.index.IndexReaderUtils").getReader(str(self.folder))
        return self._reader

    def num_docs(self) -> int:
        return int(self.reader.numDocs())

    def stored(self, docnos: Sequence[str], threads: int = 2) -> dict[str, tuple[str | None, str | None]]:
        """``{docno: (raw, contents)}`` of the ids that are in the index (one call for the whole batch)."""
        if self._searcher is None:
            self._searcher = java.autoclass("io.anserini.search.SimpleSearcher")(str(self.folder))
        ids = java.autoclass("java.util.ArrayList")()
        for d in docnos:
            ids.add(d)
        found = self._searcher.batch_get_docs(ids, int(threads))
        out = {}
        for entry in found.entrySet().toArray():
            doc = entry.getValue()
            out[str(entry.getKey())] = (doc.get("raw"), doc.get("contents"))
        return out

    def documents(self) -> Iterator[Doc]:
        """Every live stored document in index order (one call per document: for occasional full passes)."""
        reader = self.reader
        live = java.autoclass("org.apache.lucene.index.MultiBits").getLiveDocs(reader)
        fields = reader.storedFields()
        for i in range(int(reader.maxDoc())):
            if live is not None and not live.get(i):
                continue
            doc = fields.document(i)
            title, text = title_and_text(doc.get("raw"), doc.get("contents"))
            yield {"docno": str(doc.get("id")), "title": title, "text": text}


class LuceneDocStore(LookupDocStore):
    """Titles and texts from a Lucene index's stored documents (``raw``, else ``contents``)."""

    def __init__(self, index: LuceneIndex, source: str | None = None):
        self.index = index
        self.source = source or str(index.folder)
        self._len: int | None = None

    def __len__(self) -> int:
        if self._len is None:
            self._len = self.index.num_docs()
        return self._len

    def lookup(self, docnos: list[str]) -> dict[str, tuple[str | None, str | None]]:
        return self.index.stored(docnos)

    def title_and_text(self, value: tuple[str | None, str | None]) -> tuple[str, str]:
        raw, contents = value
        if raw is None and contents is None:
            raise InputError("the index stores no document text (built without --storeRaw or "
                             "--storeContents): give the data set its corpus file", path=self.source)
        return title_and_text(raw, contents)


class LuceneIndexCorpus(Corpus):
    """The documents of an existing Lucene index as a corpus (no corpus file needed)."""

    def __init__(self, spec: str | Path, download: bool = False, name: str | None = None):
        folder = resolve_index(spec, download)
        self.index = LuceneIndex(folder)
        super().__init__(self.index.documents, fingerprint=index_identity(folder), source=str(folder),
                         name=name or str(spec))
        self.spec = str(spec)

    def docstore(self) -> LuceneDocStore:
        if self._store is None:
            self._store = LuceneDocStore(self.index, source=self.source)
        return self._store  # type: ignore[return-value]

    def length_hint(self) -> int | None:
        return len(self.docstore())

    def __len__(self) -> int:
        return len(self.docstore())
