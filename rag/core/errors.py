"""Errors that name what went wrong and where (file, line, field)."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


class RagifError(Exception):
    """Base class of every error ragif raises on purpose; the CLI prints these without a traceback."""


class InputError(RagifError, ValueError):
    """Bad input data: names the file, the 1-based line and the field when they are known."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = ""
        if self.path:
            where = self.path + (f":{line}" if line is not None else "")
        if field:
            where = f"{where} field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(InputError):
    """A configuration that cannot be used (unknown key, wrong type, unknown component)."""


class MissingDependencyError(RagifError, ImportError):
    """An optional dependency is needed for what was asked; says how to install it."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = ""):
        hint = f"pip install 'ragif[{extra}]'" if extra else f"pip install {package}"
        what = f" for {purpose}" if purpose else ""
        super().__init__(f"{package} is needed{what}; install it with: {hint}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix naming the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class OutputError(RagifError, OSError):
    """A file or folder that cannot be written (a file where a folder should be, a read-only or full file
    system, a name too long): one line naming the path and the reason."""

    def __init__(self, message: str, path: str | Path | None = None, errno: int | None = None):
        self.path = str(path) if path is not None else None
        self.reason = message
        super().__init__(message)
        self.errno = errno
