"""Plugins: Python modules that register a config's own components (stages, measures, datasets, LLM
backends, report writers) before the config is read.

A config names them under ``plugins:``; ``ragif run --plugin NAME`` (repeatable) does the same. Each name
is, in this order:

1. an installed entry point of the group ``ragif.plugins`` (a package declares
   ``[project.entry-points."ragif.plugins"] mine = "mypackage.ragif_components"``): its module is imported,
   and when it names a function (``"mypackage:register"``) that function is called with no arguments;
2. a module name (``my_measures``, ``lab.ragif_parts``), imported from the Python path, else from the
   config file's folder, else from the working directory.

This is the only code a config can cause to run, and only code the user named: nothing else in a config
is imported or evaluated (stage names are registry keys, values are data). A module is imported once per
process; naming it again does nothing.

>>> load_plugins(["json"])          # any importable module; a plugin registers components when imported
['json']
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Sequence

from rag.core.config import item_line
from rag.core.errors import ConfigError, RagifError

ENTRY_POINT_GROUP = "ragif.plugins"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def load_plugins(plugin_names: Sequence[Any], source: str | None = None, line: int | None = None,
                 folder: str | Path | None = None) -> list[str]:
    """Import every plugin (see the module docstring); returns what was loaded, for provenance.
    ``folder``: the config file's folder (searched after the Python path)."""
    loaded = []
    for index, name in enumerate(plugin_names):
        loaded.append(load_plugin(name, source, item_line(plugin_names, index, line), folder))
    return loaded


def load_plugin(name: Any, source: str | None = None, line: int | None = None,
                folder: str | Path | None = None) -> str:
    """Import one plugin by entry-point or module name; a :class:`ConfigError` naming the config line when
    it cannot be found or fails while importing."""
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise ConfigError(f"a plugin is a module name such as my_measures or an entry point of the group "
                          f"{ENTRY_POINT_GROUP!r}, got {name!r:.80}", path=source, line=line, field="plugins")
    name = name.strip()
    entry = next((e for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == name), None)
    try:
        if entry is not None:
            target = entry.load()
            if callable(target):
                target()
            return f"{name} (entry point {entry.value})"
        _import(name, folder)
        return name
    except RagifError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            searched = ", ".join(str(p) for p in _extra_paths(folder))
            raise ConfigError(f"plugin {name!r}: no module of that name on the Python path or in {searched}, and no "
                              f"installed entry point {name!r} in the group {ENTRY_POINT_GROUP!r}", path=source,
                              line=line, field="plugins") from None
        raise ConfigError(_failure(name, exc), path=source, line=line, field="plugins") from None
    except Exception as exc:   # noqa: BLE001 - the plugin's own error, reported with where it happened
        raise ConfigError(_failure(name, exc), path=source, line=line, field="plugins") from None


def _extra_paths(folder: str | Path | None) -> list[Path]:
    paths = [Path(folder).resolve()] if folder is not None else []
    cwd = Path.cwd().resolve()
    return paths + ([cwd] if cwd not in paths else [])


def _import(name: str, folder: str | Path | None) -> None:
    """Import ``name`` from the Python path; failing that, with the config's folder and the working directory
    searched too (only for this import: they are not left on ``sys.path``)."""
    try:
        importlib.import_module(name)
        return
    except ModuleNotFoundError as exc:
        if not exc.name or not (name == exc.name or name.startswith(exc.name + ".")):
            raise
    extra = [str(p) for p in _extra_paths(folder) if str(p) not in sys.path]
    sys.path[:0] = extra
    importlib.invalidate_caches()
    try:
        importlib.import_module(name)
    finally:
        for path in extra:
            if path in sys.path:
                sys.path.remove(path)


def _failure(name: str, exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    if isinstance(exc, SyntaxError):
        where, exc = f" at {exc.filename}:{exc.lineno}", SyntaxError(exc.msg)
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"plugin {name!r} failed while importing{where}: {type(exc).__name__}: {message}"
