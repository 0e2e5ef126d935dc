"""A time limit for code that cannot stop by itself (a SymPy call): a watchdog raises ``TimedOut`` in the thread running it.

SymPy offers no way to interrupt a long ``simplify``, and a thread cannot be stopped from outside. So
``Budget`` starts a watchdog thread that, when the time is up, raises ``TimedOut`` asynchronously in
the thread that entered the block (CPython's ``PyThreadState_SetAsyncExc``), at its next bytecode
boundary, and raises it again every 50 ms until the block has been left: a ``try: ... except:``
inside SymPy that swallows it once cannot keep it going. This works in any thread (strict loading
may audit from a worker thread), unlike ``signal.setitimer``, and costs nothing when the block ends
in time, unlike a subprocess per op. Where the C API is missing (not CPython), the block is only
stopped at ``check()`` calls.
"""

from __future__ import annotations

import ctypes
import threading
import time
from types import TracebackType

REPEAT = 0.05  # seconds between raises once the time is up


class TimedOut(BaseException):  # noqa: N818 - named for what happened; BaseException so `except Exception` cannot swallow it
    """The budget of a block ran out (raised inside the block by the watchdog)."""


try:
    _SET_ASYNC_EXC = ctypes.pythonapi.PyThreadState_SetAsyncExc
except (AttributeError, OSError):  # not CPython
    _SET_ASYNC_EXC = None


def _raise_in(thread: int, exc: type[BaseException]) -> None:
    """Raise exc in thread when it next enters a function or jumps back in a loop."""
    _SET_ASYNC_EXC(ctypes.c_ulong(thread), ctypes.py_object(exc))


def _barrier() -> None:
    """Entering a function is where a thread receives an exception raised in it from another thread."""


class Budget:
    """``with Budget(seconds):`` raises ``TimedOut`` inside the block once it has run for that long.

    ``seconds`` of None or <= 0 means no limit.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds if seconds and seconds > 0 else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._armed = False
        self._deadline = float("inf")

    def __enter__(self) -> Budget:
        if self.seconds is None:
            return self
        self._deadline = time.monotonic() + self.seconds
        self._armed = True
        if _SET_ASYNC_EXC is not None:
            threading.Thread(target=self._watch, args=(threading.get_ident(),), daemon=True, name="microreg-budget").start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        while True:
            try:
                self._disarm()
                _barrier()  # a raise the watchdog made just before it was disarmed is delivered here, at the latest
                return
            except TimedOut:  # delivered while disarming: disarm again, then nothing more can come
                continue

    def check(self) -> None:
        """Raise TimedOut if the time is up (for code that can stop by itself, and where no watchdog runs)."""
        if time.monotonic() > self._deadline:
            raise TimedOut

    def _disarm(self) -> None:
        # No clearing of a raise not yet delivered (PyThreadState_SetAsyncExc(thread, NULL)): CPython then
        # leaves its eval breaker set for good, and a profiled or traced program loops on it forever.
        self._stop.set()
        with self._lock:
            self._armed = False

    def _watch(self, thread: int) -> None:
        if self._stop.wait(self.seconds):
            return
        while True:
            with self._lock:
                if not self._armed:
                    return
                _raise_in(thread, TimedOut)
            if self._stop.wait(REPEAT):
                return
