"""A Ctrl-C that a library swallows (a bare ``except:`` around an import) still stops the long loops."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from edgecgl import interrupt


@pytest.fixture
def handler():  # noqa: ANN201
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    interrupt.install()
    yield
    interrupt._received.clear()
    for s, h in before.items():
        signal.signal(s, h)


def _swallowed_ctrl_c() -> None:
    try:  # what mpmath does around its gmpy2 probe
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    except:  # noqa: E722
        pass


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_check(handler) -> None:  # noqa: ANN001
    interrupt.check()  # nothing pressed: no-op
    _swallowed_ctrl_c()
    with pytest.raises(KeyboardInterrupt):
        interrupt.check()
    interrupt.install()  # a new run starts clean
    interrupt.check()


def test_sigterm_stops_like_ctrl_c_and_is_told_apart(handler) -> None:  # noqa: ANN001
    """systemd and docker stop send SIGTERM, which killed the process where it stood (no cleanup)."""
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
    assert interrupt.received() == signal.SIGTERM


def test_an_ignored_sigint_and_an_applications_own_handler_are_kept() -> None:
    """A background job or nohup starts with SIGINT ignored; an embedding application has its own."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    mine = lambda s, f: None  # noqa: E731
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, mine)
        interrupt.install()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is mine
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_augment_stops_before_the_next_item(handler, tmp_path: Path) -> None:  # noqa: ANN001
    from edgecgl.augment import Dataset, Item, augment

    items = [Item(tmp_path / f"{i}.jpg", f"sunny_{i}", "sunny", [], []) for i in range(3)]
    done: list[str] = []

    def translate(target: str, item: Item) -> tuple[np.ndarray, int]:
        done.append(item.name)
        if len(done) == 1:
            _swallowed_ctrl_c()
        return np.zeros((4, 4, 3), np.uint8), 0

    with pytest.raises(KeyboardInterrupt):
        augment(Dataset("folder", tmp_path, items), ["night"], tmp_path / "out", translate, lambda a, s: b"x")
    assert done == ["sunny_0"]


def _stops_in_a_fresh_python(code: str) -> None:
    """Run ``code`` in its own interpreter (Python's default signal dispositions); it prints 'stopped'."""
    import subprocess
    import sys

    from tests.integration.test_robust_inputs import default_signals

    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=default_signals
    )
    assert r.returncode == 0 and "stopped" in r.stdout, r.stderr[-2000:]


def test_a_forked_pool_still_stops_its_workers() -> None:
    """Forked workers inherited the SIGTERM handler, so Pool.terminate()'s SIGTERM raised
    KeyboardInterrupt inside the worker loop and the pool waited forever (edgecgl demo / data synth)."""
    code = (
        "import multiprocessing as mp, signal, time\n"
        "from edgecgl import interrupt\n"
        "interrupt.install()\n"
        "assert signal.getsignal(signal.SIGTERM) is interrupt._on_signal\n"
        "pool = mp.get_context('fork').Pool(1)\n"
        "assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL\n"
        "pool.apply_async(time.sleep, (60,))\n"
        "time.sleep(0.5)\n"
        "pool.terminate()\n"
        "pool.join()\n"
        "print('stopped')\n"
    )
    _stops_in_a_fresh_python(code)


def test_a_process_forked_while_a_training_holds_the_signals_can_be_stopped() -> None:
    """A distributed run holds SIGINT/SIGTERM over its loop and forks its DataLoader workers inside it:
    the workers get the default handlers, not the holding one (which would swallow every SIGTERM)."""
    code = (
        "import multiprocessing as mp, signal, time\n"
        "from edgecgl import interrupt\n"
        "from edgecgl.interrupt import signals_held\n"
        "interrupt.install()\n"
        "with signals_held():\n"
        "    with signals_held():\n"
        "        child = mp.get_context('fork').Process(target=time.sleep, args=(60,))\n"
        "        child.start()\n"
        "        pool = mp.get_context('fork').Pool(1)\n"
        "        got = pool.apply(signal.getsignal, (signal.SIGINT,)), pool.apply(signal.getsignal, (signal.SIGTERM,))\n"
        "        pool.terminate()\n"
        "    assert got == (signal.default_int_handler, signal.SIG_DFL), got\n"
        "    child.terminate()\n"
        "    child.join(20)\n"
        "    assert child.exitcode == -signal.SIGTERM, child.exitcode\n"
        "assert signal.getsignal(signal.SIGTERM) is interrupt._on_signal\n"
        "print('stopped')\n"
    )
    _stops_in_a_fresh_python(code)
