"""Line readers that report bad input by file, line and field.

Files are read as bytes and decoded line by line, so a non-UTF-8 byte or a malformed JSON line is
reported with its line number; a UTF-8 byte-order mark at the start is accepted; ``.gz`` files are
opened transparently.
"""
from __future__ import annotations

import gzip
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from rag.core.errors import InputError


def open_binary(path: str | Path) -> BinaryIO:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found" + (" (a symbolic link to nothing or a loop of links)"
                                             if path.is_symlink() else ""), path=path)
    if path.is_dir():
        raise InputError("is a folder, not a file", path=path)
    _refuse_endless(path)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", path=path) from None


def _refuse_endless(path: Path) -> None:
    """A device that never ends (``/dev/zero``, ``/dev/urandom``) would be read forever: refused. Pipes,
    terminals and ``/dev/null`` are read as usual (``cat run | ragif eval /dev/stdin qrels``)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise InputError("is a device or a socket, not a file", path=path)
    if stat.S_ISCHR(mode) and os.path.realpath(path) != os.devnull:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return
        try:
            interactive = os.isatty(fd)
        finally:
            os.close(fd)
        if not interactive:
            raise InputError("is a device that never ends, not a file", path=path)


def _raw_lines(fh: BinaryIO, path: str | Path) -> Iterator[bytes]:
    """The file's lines; a truncated or corrupt ``.gz`` file is an :class:`InputError` naming the line."""
    number = 0
    try:
        for number, raw in enumerate(fh, start=1):
            yield raw
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot be read after {number} line(s): not a valid gzip file or truncated "
                         f"({type(exc).__name__}: {exc})", path=path, line=number + 1) from None


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line (1-based), without the line ending."""
    with open_binary(path) as fh:
        for number, raw in enumerate(_raw_lines(fh, path), start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})",
                                 path=path, line=number) from None
            yield number, text.rstrip("\r\n")


def count_lines(path: str | Path) -> int:
    """Lines of a (possibly gzipped) file, counted in 1 MiB blocks without decoding (blank lines included)."""
    count, last = 0, b"\n"
    with open_binary(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file."""
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", path=path, line=number) from None
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=path, line=number)
        yield number, obj


def get_field(obj: dict[str, Any], field: str, path: str | Path, line: int, required: bool = True,
              default: Any = "") -> Any:
    """``obj[field]`` or a clear error naming the file, line and field."""
    if field in obj and obj[field] is not None:
        return obj[field]
    if required:
        raise InputError(f"missing field (the line has {sorted(obj)})", path=path, line=line, field=field)
    return default


def read_json(path: str | Path) -> Any:
    with open_binary(path) as fh:
        raw = b"".join(_raw_lines(fh, path))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8", path=path, line=line) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg})", path=path, line=exc.lineno) from None


def iter_tsv(path: str | Path, columns: int | None = None, header: bool = False,
             delimiter: str | None = "\t") -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` of a delimited file (``delimiter=None``: any whitespace),
    checking the field count when given."""
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        if header and number == 1:
            continue
        fields = text.split(delimiter) if delimiter else text.split()
        if columns is not None and len(fields) != columns:
            raise InputError(f"expected {columns} fields, found {len(fields)}", path=path, line=number)
        yield number, fields
