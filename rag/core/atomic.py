"""Atomic, first-writer-wins publishing of files and folders in a folder that many processes share.

- :func:`atomic_write_bytes` writes a file so that readers see the old one or the whole new one; with
  ``replace=False`` an existing file stays (a hard link publishes without replacing).
- :func:`build_folder` gives a private temporary folder whose *owner file* stays ``flock``-ed while its
  writer lives; :func:`publish_folder` renames it into place unless another writer's finished folder is
  there already (that one is never moved or deleted); :func:`remove_orphans` removes temporary folders
  whose writer died (the kernel drops a dead process's locks, however it died) and never a live one's.
- Files are created with mode 0666 and folders with 0777, minus the umask (as ``open``/``mkdir`` do).
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so orphans are never judged dead
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
COMPLETE = ".complete"


# ----------------------------------------------------------------------------------------- file writing
def _writer_token() -> str:
    """Unique among all writers of a shared cache: host, process and a random part."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"


def write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` (which must not exist) with ``data``, flushed to disk; mode 0666 minus the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


def publish_file(tmp: Path, final: Path) -> bool:
    """Move ``tmp`` to ``final`` unless ``final`` exists; True when ours was published.

    A hard link publishes without replacing; on file systems without hard links, rename (which replaces,
    so two writers racing there may both publish: entries are complete either way)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        os.unlink(tmp)
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            os.unlink(tmp)
            raise
        if final.exists():
            os.unlink(tmp)
            return False
        os.replace(tmp, final)
        return True
    os.unlink(tmp)
    return True


def atomic_write_bytes(path: str | Path, data: bytes, replace: bool = True) -> bool:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never part.

    ``replace=False`` keeps an existing ``path`` (first writer wins). Returns whether ``data`` was written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{_writer_token()}.tmp")
    try:
        write_new_file(tmp, data)   # removes ``tmp`` when it fails
        if not replace:
            return publish_file(tmp, path)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    except OSError as exc:   # name the file the caller asked for (not our temporary name, nor none at all)
        if exc.filename in (None, str(tmp)):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
    return True


def atomic_write_text(path: str | Path, text: str, replace: bool = True) -> bool:
    return atomic_write_bytes(path, text.encode("utf-8"), replace)


# ----------------------------------------------------------------------------------------- build folders
OWNER_SUFFIX, BUILD_SUFFIX = ".owner", ".build"


def _try_lock(fd: int, block: bool) -> bool:
    """flock ``fd`` exclusively; False when another holder has it (non-blocking) or locks are unsupported."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError as exc:  # ENOLCK and friends: no locking here, so never judge a writer dead
        log.debug("flock unsupported (%s)", exc)
        return False
    return True


@contextlib.contextmanager
def build_folder(parent: Path, key: str) -> Iterator[Path]:
    """A private temporary folder in ``parent`` whose owner file stays locked while this block runs."""
    stem = parent / f".{key}.{_writer_token()}"
    owner, build = Path(f"{stem}{OWNER_SUFFIX}"), Path(f"{stem}{BUILD_SUFFIX}")
    while True:  # lock, then check that no cleaner removed the owner file between create and lock
        fd = os.open(owner, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        _try_lock(fd, block=True)
        with contextlib.suppress(FileNotFoundError):
            if os.stat(owner).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    try:
        os.mkdir(build, 0o777)
        yield build
    finally:
        shutil.rmtree(build, ignore_errors=True)  # gone already when published
        with contextlib.suppress(FileNotFoundError):
            os.unlink(owner)
        os.close(fd)


def remove_orphans(parent: Path) -> int:
    """Remove the temporary build folders in ``parent`` whose writer is gone; returns how many.

    A writer holds the lock of its owner file for as long as its folder exists, and the kernel releases
    the lock when the writer dies, however it dies; a folder with a held lock is never touched."""
    removed = 0
    try:
        names = os.listdir(parent)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for name in names:
        if not name.endswith(OWNER_SUFFIX):
            continue
        owner = parent / name
        try:
            fd = os.open(owner, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            if not _try_lock(fd, block=False):
                continue  # a live writer (or no locking on this file system)
            try:
                if os.stat(owner).st_ino != os.fstat(fd).st_ino:
                    continue  # already cleaned and recreated
            except FileNotFoundError:
                continue
            build = parent / (name[: -len(OWNER_SUFFIX)] + BUILD_SUFFIX)
            if build.exists():
                shutil.rmtree(build, ignore_errors=True)
                removed += 1
                log.info("removed %s, left by a writer that died", build)
            os.unlink(owner)
        finally:
            os.close(fd)
    for name in names:  # a build folder without its owner file: its writer died while cleaning up
        if name.endswith(BUILD_SUFFIX) and not (parent / (name[: -len(BUILD_SUFFIX)] + OWNER_SUFFIX)).exists():
            shutil.rmtree(parent / name, ignore_errors=True)
            removed += 1
    return removed


def complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def publish_folder(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` to ``final`` unless another writer's finished folder is there already."""
    try:
        os.rename(tmp, final)  # atomic; fails when ``final`` is a non-empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if complete(final):
        return  # another writer won; our copy is discarded
    # an unfinished folder under the final name (left by an old ragif version): repair it under a lock,
    # so that two repairers never move each other's work; a finished folder is never moved
    lock = final.parent / f".{final.name}.repair"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        _try_lock(fd, block=True)
        if complete(final):
            return
        aside = final.parent / f".{final.name}.{_writer_token()}.stale"
        with contextlib.suppress(FileNotFoundError):
            os.rename(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not complete(final):
                raise
    finally:
        os.close(fd)
