"""Shaping many rows without Python's cyclic garbage collector walking them as they are made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run a synchronous computation without the cyclic garbage collector.

    A report or a roster over 100,000 members builds about a million tuples, lists and structs,
    none in a cycle; the collector would walk them again and again as they are made (a fifth
    of the computation's time). The block is synchronous, so no other request runs meanwhile,
    and the collector is back on when it ends, as it was before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
