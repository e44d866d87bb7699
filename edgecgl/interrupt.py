"""Ctrl-C and SIGTERM stop the run cleanly, even where a library swallows the KeyboardInterrupt.

Both raise KeyboardInterrupt in the main thread, so the temporary outputs are removed on the way out
(``edgecgl.atomic``) and nothing half-written is left: a service manager (systemd on the vehicle,
``docker stop``) sends SIGTERM, which by default killed the process where it stood. Python raises the
exception wherever the main thread is; a bare ``except:`` in a third-party import eats it (one such:
mpmath's probe for ``gmpy2``, run when torch first imports sympy at the first optimizer), so the handler
also records the signal, and the long loops (training steps, video frames, images) check it between
items. Only Python's default dispositions are replaced: a process started with SIGINT ignored (a shell's
background job, nohup) keeps ignoring it, and an embedding application keeps its own handlers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any, NoReturn

_received: list[int] = []  # the signal that asked to stop, once one has
_holding: list[dict[int, Any]] = []  # per open signals_held block, outermost first: the handlers it replaced


def stop(signum: int) -> NoReturn:
    """Stop here as if ``signum`` had arrived now (a rank of a distributed run stops with its peers)."""
    if not _received:
        _received.append(signum)
    raise KeyboardInterrupt


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stop(signum)


_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def install() -> None:
    """Handle SIGINT and SIGTERM (main thread only: Python allows handlers nowhere else)."""
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, default in _DEFAULTS.items():
        if signal.getsignal(sig) in (default, _on_signal):
            signal.signal(sig, _on_signal)


def reset_in_child() -> None:
    """A forked worker (SynthWeather's render pool, DataLoader workers) gets the defaults back: its pool
    stops it with SIGTERM, which must end it, not raise KeyboardInterrupt inside the pool's loop (a
    multiprocessing.Pool then waited forever in terminate()), nor hold it for a signals_held block it
    never leaves (a distributed training forks its DataLoader workers inside one)."""
    _received.clear()
    if _holding:
        for sig, h in _holding[0].items():
            signal.signal(sig, h)
        _holding.clear()
    for sig, default in _DEFAULTS.items():
        if signal.getsignal(sig) is _on_signal:
            signal.signal(sig, default)


os.register_at_fork(after_in_child=reset_in_child)


def received() -> int | None:
    """The signal that stopped the run (SIGINT for a plain KeyboardInterrupt), for the exit code."""
    return _received[0] if _received else None


def check() -> None:
    """Raise KeyboardInterrupt if a stop was asked since ``install``, even if it was swallowed."""
    if _received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def signals_held() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them: what the block does is done whole
    (a training step, so an interrupted run can save a consistent last.pt; a temporary file made together
    with the name that removes it, edgecgl.atomic). Yields the signals held so far. Only Python handlers
    are held (edgecgl's, Python's Ctrl-C, an application's own); an ignored or default signal, or another
    thread, is left as it is."""
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    handlers = {sig: h for sig, h in handlers.items() if callable(h)}
    _holding.append(handlers)
    for sig in handlers:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
        _holding.pop()
    for sig in held[:1]:  # only when the block ended normally: its own exception says more
        signal.raise_signal(sig)
