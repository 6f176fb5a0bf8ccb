"""The collector pause around synchronous shaping (reports, /fetch/ renders)."""

import gc

import pytest

from home.api.collector import collector_paused


def test_collector_is_paused_only_inside_the_block():
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError), collector_paused():
        assert not gc.isenabled()
        1 / 0  # noqa: B018
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # whoever turned it off keeps it off
    finally:
        gc.enable()
