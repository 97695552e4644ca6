"""Ctrl-C anywhere ends ``ragif`` with one line, ``ragif: interrupted; ...``, and exit code 130.

Python turns SIGINT into :class:`KeyboardInterrupt` in the main thread, which unwinds the stack (``finally``
blocks run, finished cache entries stay). That alone fails in four ways, each handled here:

- the interrupt lands in a ``__del__`` or a callback, where Python prints "Exception ignored in ..." with a
  traceback and carries on as if nothing happened: it is not raised there (or, when it was, not printed) and
  is delivered again to the main thread a little later;
- the main thread sits in a long C call (a torch op, llama.cpp decoding, a FAISS search) and runs no Python
  handler until it returns, or library code swallows the interrupt, or unwinding waits for worker threads:
  a watcher thread sees every SIGINT as it arrives (through :func:`signal.set_wakeup_fd`) and ends the process
  with the line if it is still alive :data:`GRACE` seconds after the first one;
- a second Ctrl-C ends the process at once (with the line, once);
- library code catches the interrupt and raises something else: :attr:`Guard.requested` tells the caller.

Writes are atomic everywhere (a file or cache entry is whole or absent), so ending the process early loses
only unfinished work. Nothing is installed when SIGINT was not Python's default handler at start (``nohup``,
a parent that ignores it, an embedding application).
"""
from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

MESSAGE = "ragif: interrupted; finished stages are cached, run again to resume"
GRACE = float(os.environ.get("RAGIF_INTERRUPT_GRACE", "10"))   # seconds from the first Ctrl-C to a forced end
EXIT_CODE = 130
PRINT_WAIT = 5.0   # seconds an ending thread waits for another thread that is printing the line


class Guard:
    """Installs the SIGINT handling of the module docstring for the duration of a ``with`` block."""

    def __init__(self, grace: float = GRACE):
        self.grace = grace
        self.requested = False            # a Ctrl-C arrived (even if the KeyboardInterrupt was lost)
        self.installed = False
        self._presses = 0                 # SIGINTs seen by the watcher
        self._handled = 0                 # SIGINTs seen by the Python-level handler
        self._redelivered = 0             # re-deliveries the watcher must not count as presses
        self._handler_redelivered = 0     # ... nor the Python-level handler
        self._lock = threading.Lock()
        self._say_lock = threading.RLock()   # held while the line is written; see say()
        self._saying = False              # the line is being written (by the thread holding _say_lock)
        self._said = False                # ... and is out
        self._end_after_saying = False    # a Ctrl-C re-entered the printing thread: end once the line is out
        self._pending = False             # an interrupt that could not be raised yet
        self._timer: threading.Timer | None = None
        self._saved: tuple[Any, ...] = ()
        self._pipe: tuple[int, int] | None = None

    # ------------------------------------------------------------------ install / remove
    def __enter__(self) -> "Guard":
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return self
        read, write = os.pipe()
        os.set_blocking(write, False)
        try:
            old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        except (ValueError, OSError):
            os.close(read)
            os.close(write)
            return self
        self._pipe = (read, write)
        self._saved = (signal.getsignal(signal.SIGINT), sys.unraisablehook, old_fd)
        signal.signal(signal.SIGINT, self._on_sigint)
        sys.unraisablehook = self._unraisable
        threading.Thread(target=self._watch, name="ragif-interrupt-watcher", daemon=True).start()
        self.installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.installed:
            return
        handler, hook, old_fd = self._saved
        signal.set_wakeup_fd(old_fd)
        sys.unraisablehook = hook
        if self.requested:   # keep ending quietly: a Ctrl-C while the interpreter joins threads exits at once
            signal.signal(signal.SIGINT, lambda *_: self.finish())
        else:
            signal.signal(signal.SIGINT, handler)
            if self._timer is not None:
                self._timer.cancel()
        os.close(self._pipe[1])   # the watcher sees end-of-file and stops
        self.installed = False

    # ------------------------------------------------------------------ events
    def _on_sigint(self, signum: int, frame: Any) -> None:
        """The Python-level handler (main thread): the first Ctrl-C raises KeyboardInterrupt, a second one ends."""
        with self._lock:
            redelivery = self._handler_redelivered > 0
            if redelivery:
                self._handler_redelivered -= 1
            else:
                self._handled += 1
            second = self._handled > 1 and not redelivery
        if second:
            self.finish()   # returns only when this thread was interrupted while printing the line: it ends then
            return
        self.requested = True
        if redelivery and not self._pending:
            return   # delivered already
        if _in_finalizer(frame):   # raised here, Python would print it and carry on: try again a little later
            self._redeliver_later()
            return
        self._pending = False
        raise KeyboardInterrupt

    def _watch(self) -> None:
        """Every SIGINT as it arrives, even while the main thread is inside a long C call."""
        read = self._pipe[0]
        try:
            while True:
                data = os.read(read, 64)
                if not data:
                    return
                for byte in data:
                    if byte != signal.SIGINT:
                        continue
                    with self._lock:
                        if self._redelivered:
                            self._redelivered -= 1
                            continue
                        self._presses += 1
                        presses = self._presses
                    self.requested = True
                    if presses == 1:
                        self._timer = threading.Timer(self.grace, self.finish)
                        self._timer.daemon = True
                        self._timer.start()
                    else:
                        self.finish()
        except OSError:
            return
        finally:
            os.close(read)

    def _unraisable(self, info: Any) -> None:
        """A KeyboardInterrupt that Python could not raise (in ``__del__``, a weakref callback): raise it again
        in the main thread a little later instead of printing a traceback and carrying on."""
        if isinstance(info.exc_value, KeyboardInterrupt):
            self._redeliver_later()
            return
        self._saved[1](info)

    def _redeliver_later(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        threading.Thread(target=self._redeliver, name="ragif-interrupt-redeliver", daemon=True).start()

    def _redeliver(self) -> None:
        """Interrupt the main thread every 50 ms until the interrupt lands where it can be raised (the watcher
        ends the process after the grace period if it never does)."""
        while self._pending and not self._said:
            time.sleep(0.05)
            if not self._pending:
                return
            with self._lock:
                self._redelivered += 1
                self._handler_redelivered += 1
            _thread.interrupt_main()

    # ------------------------------------------------------------------ the end
    def say(self) -> None:
        """Print the one line, once, from whichever thread gets here first; returns when the line is out.

        Another thread that calls this (or :meth:`finish`) meanwhile waits for the line: a second Ctrl-C seen by
        the watcher and by the Python-level handler at the same moment once ended the process (``os._exit``)
        from one thread while the other was still flushing before writing it, so nothing was printed. A Ctrl-C
        handler that interrupts the printing thread itself (re-entering the lock) leaves the line to it."""
        with self._say_lock:
            if self._said or self._saying:
                return
            self._saying = True
            try:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:   # closed, broken pipe, or re-entered from a handler inside a write
                        pass
                try:
                    os.write(2, (MESSAGE + "\n").encode())
                except OSError:
                    pass
            finally:
                self._said = True
                self._saying = False
            if self._end_after_saying:
                os._exit(EXIT_CODE)

    def finish(self) -> None:
        """Print the line (if not yet printed) and end the process now with code 130.

        Returns only in a Ctrl-C handler that interrupted this very thread while it was printing the line (which
        ends the process as soon as the line is out). A thread that printing blocks for more than
        :data:`PRINT_WAIT` seconds (a flush stuck on a full pipe) does not hold up the end: the line is then
        written here."""
        if not self._say_lock.acquire(timeout=PRINT_WAIT):
            try:
                if not self._said:
                    os.write(2, (MESSAGE + "\n").encode())
            finally:
                os._exit(EXIT_CODE)
        try:
            if self._saying:
                self._end_after_saying = True
                return
            self.say()
        finally:
            self._say_lock.release()
        os._exit(EXIT_CODE)


def _in_finalizer(frame: FrameType | None, depth: int = 50) -> bool:
    """Whether ``frame`` runs inside a ``__del__`` (where a raised exception is printed and dropped)."""
    while frame is not None and depth:
        if frame.f_code.co_name == "__del__":
            return True
        frame, depth = frame.f_back, depth - 1
    return False
