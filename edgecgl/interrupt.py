"""Ctrl-C stops the run even where a library swallows the KeyboardInterrupt.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. A bare ``except:`` in a
third-party import eats it (one such: mpmath's probe for ``gmpy2``, run when torch first imports sympy at
the first optimizer; tests/unit/test_interrupt.py). The CLI's handler also sets a flag that the long loops
(training steps, video frames, images) check between items. A process started with SIGINT ignored (a
shell's background job, nohup) keeps ignoring it: Python leaves SIG_IGN in place, and so does this.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_pressed = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _pressed.set()
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT (main thread only, and only where Python's default handler is in place: an embedding
    application keeps its own)."""
    _pressed.clear()
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _on_sigint)
    ):
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since ``install``, even if it was swallowed."""
    if _pressed.is_set():
        raise KeyboardInterrupt
