"""Names and folders on disk: the one rule that turns a name into a file stem, the check of an output folder
before any work, and one-line messages for file-system errors.

**The stem rule** (:func:`file_stem`, :func:`file_stems`): a stem is ASCII letters, digits, ``-``, ``_`` and
``.``, at most :data:`MAX_STEM` bytes, never starting with ``.`` or ``-``, never ending with ``.``, never a
Windows device name (``CON``, ``NUL``, ``COM1``, ...), never empty. Any other character becomes ``_``
(accents are dropped first: ``Café`` -> ``Cafe``). A name whose stem had to be cut, was empty, was a
device name, or collides with another name's stem (letter case ignored, as on macOS and Windows) gets
``-`` and 8 hex digits of the SHA-256 of the exact name appended, so the stems of a set of names are unique
and the same whatever their order. A stem never contains a path separator, so ``..``, ``/etc/passwd``, NUL
or a newline in a name can never lead outside the folder it is joined to.
"""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
import unicodedata
from pathlib import Path
from typing import Iterable

from rag.core.errors import OutputError

MAX_STEM = 100
_CUT = 80                                  # the readable part kept of a name that is too long
_DEVICES = {"con", "prn", "aux", "nul", "clock$", "conin$", "conout$",
            *(f"{p}{i}" for p in ("com", "lpt") for i in (*"123456789", "¹", "²", "³"))}
NAME_MAX = 255                             # bytes in one file name on every common file system
MIN_FREE_BYTES = 1                         # an output folder with no free byte at all is refused before work

# errors that describe the machine's state (a full disk, a read-only mount, permissions, a bad path), not a bug
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG, errno.EEXIST,
                      errno.ENOTDIR, errno.EISDIR, errno.EMFILE, errno.ENFILE, errno.EIO, errno.EFBIG, errno.ELOOP,
                      errno.ENOENT, errno.EXDEV, errno.EBUSY, errno.ETXTBSY,
                      *(e for e in (getattr(errno, "EDQUOT", None),) if e is not None)}
_HINTS = {errno.ENOSPC: "free some space and run again (finished stages are cached)", errno.EROFS: "choose a writable folder with -o",
          errno.EACCES: "choose a writable folder with -o", errno.EPERM: "choose a writable folder with -o",
          errno.ENAMETOOLONG: "choose a shorter path"}


def _digest(name: str, length: int = 8) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def _base(name: str) -> tuple[str, bool]:
    """The readable part of a stem and whether a hash must follow it (cut, empty or a device name)."""
    text = "".join(c for c in unicodedata.normalize("NFKD", str(name)) if not unicodedata.combining(c))
    text = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in text)
    text = text.lstrip(".").rstrip(". ")
    if text.startswith("-"):
        text = "_" + text[1:]
    needs_hash = not text or text.split(".")[0].lower() in _DEVICES
    if len(text) > MAX_STEM:
        text, needs_hash = text[:_CUT].rstrip("."), True
    return text or "unnamed", needs_hash


def file_stem(name: str) -> str:
    """The file stem of one name (the stem rule of this module's docstring).

    >>> file_stem("RRF(BM25,MiniLM)")
    'RRF_BM25_MiniLM_'
    >>> file_stem("../../etc")
    '_.._etc'
    >>> file_stem("..")
    'unnamed-5ec1f7e7'
    """
    base, needs_hash = _base(name)
    return f"{base}-{_digest(name)}" if needs_hash else base


def file_stems(names: Iterable[str]) -> dict[str, str]:
    """Unique stems for ``names`` (each name's stem, with a hash where two would meet, letter case ignored)."""
    names = list(dict.fromkeys(names))
    bases = {n: _base(n) for n in names}
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(bases[name][0].casefold(), []).append(name)
    length = 8
    while True:
        stems = {}
        for members in groups.values():
            # in a collision, a name that is its own stem keeps it when it is the only one; the others get hashes
            exact = [n for n in members if n == bases[n][0] and not bases[n][1]]
            for name in members:
                base, needs_hash = bases[name]
                plain = not needs_hash and (len(members) == 1 or exact == [name])
                stems[name] = base if plain else f"{base}-{_digest(name, length)}"
        if len({s.casefold() for s in stems.values()}) == len(stems) or length >= 64:
            return stems
        length *= 2


# ----------------------------------------------------------------------------------------- errors
def is_environment_error(exc: OSError) -> bool:
    """Whether ``exc`` says something about the machine (full disk, read-only, permissions, path), not a bug."""
    return exc.errno in ENVIRONMENT_ERRNOS


def describe_os_error(exc: OSError, path: str | Path | None = None) -> str:
    """One line: the path, the reason and the errno name, e.g. ``/out/results.csv: No space left on device
    (ENOSPC); free some space``."""
    target = exc.filename if exc.filename is not None else path
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = errno.errorcode.get(exc.errno or 0)
    text = f"{target}: {reason}" if target is not None else reason
    if code:
        text += f" ({code})"
    hint = _HINTS.get(exc.errno or 0)
    return f"{text}; {hint}" if hint else text


def output_error(exc: OSError, path: str | Path, doing: str = "cannot write") -> OutputError:
    """An :class:`OutputError` for ``exc`` raised while writing ``path``."""
    return OutputError(f"{doing} {describe_os_error(exc, path)}", path=exc.filename or path, errno=exc.errno)


# ----------------------------------------------------------------------------------------- folders
def writable_folder(path: str | Path, what: str = "output folder", create: bool = True) -> Path:
    """``path`` as a folder that exists (made when missing; with ``create=False`` only checked to be makeable)
    and takes a new file, or :class:`OutputError` naming it and the reason: a file in the way, a read-only or
    full file system, permissions, a name too long, a link loop. Checked with a real probe file (permission
    bits say nothing for root or on network mounts)."""
    folder = Path(path)

    def refuse(problem: str, exc: OSError | None = None, code: int | None = None) -> OutputError:
        if exc is not None:
            about_folder = exc.filename is None or Path(exc.filename) == folder
            problem += ": " + describe_os_error(OSError(exc.errno, exc.strerror) if about_folder else exc)
        return OutputError(f"{what} {folder} {problem}", path=folder, errno=code if exc is None else exc.errno)

    for part in folder.parts:
        if len(part.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise refuse(f"cannot be made: the name {part[:24]!r}... is {len(part.encode('utf-8', 'surrogatepass'))} "
                         f"bytes, more than file systems allow ({NAME_MAX}) (ENAMETOOLONG); choose a shorter path",
                         code=errno.ENAMETOOLONG)
    existing = folder
    try:
        while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
            existing = existing.parent
        if existing.is_symlink() and not existing.exists():
            raise refuse("is a symbolic link to nothing or a loop of links" if existing == folder else
                         f"cannot be made: {existing} is a symbolic link to nothing or a loop of links",
                         code=errno.ELOOP)
        if not existing.is_dir():
            raise refuse("is a file, not a folder (EEXIST); name a folder with -o" if existing == folder else
                         f"cannot be made: {existing} is a file, not a folder (ENOTDIR)",
                         code=errno.EEXIST if existing == folder else errno.ENOTDIR)
        if create:
            folder.mkdir(parents=True, exist_ok=True)
            existing = folder
    except OutputError:
        raise
    except OSError as exc:   # a read-only file system, permissions, a path too long
        raise refuse("cannot be made", exc) from None
    probe = existing / f".ragif-probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:   # the probe's own name says nothing to the user
        bare = OSError(exc.errno, exc.strerror)
        raise refuse("is not writable" if existing == folder else f"cannot be made in {existing}", bare) from None
    try:
        stat = os.statvfs(existing)
        free = stat.f_bavail * stat.f_frsize
    except (OSError, AttributeError):   # no statvfs (Windows) or not supported: the probe decided
        free = MIN_FREE_BYTES
    if free < MIN_FREE_BYTES:
        raise refuse("has no free space (ENOSPC); free some space", code=errno.ENOSPC)
    return folder
