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
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupt.install()
    yield
    interrupt._pressed.clear()
    signal.signal(signal.SIGINT, before)


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


def test_an_applications_own_handler_is_kept() -> None:
    before = signal.getsignal(signal.SIGINT)
    mine = lambda s, f: None  # noqa: E731
    signal.signal(signal.SIGINT, mine)
    try:
        interrupt.install()
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, before)


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
