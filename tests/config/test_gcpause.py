"""The collector pause every loader shares."""

from __future__ import annotations

import gc

import pytest

from reconciler.config.gcpause import paused_gc


def test_a_pause_leaves_the_collector_as_it_found_it_nested_and_on_error() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause leaves the collector to the outer one
    assert gc.isenabled()
    with pytest.raises(ValueError), paused_gc():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # paused before: still paused
    finally:
        gc.enable()


def test_keep_moves_what_was_made_out_of_the_collectors_sight() -> None:
    before = gc.get_freeze_count()
    try:
        with paused_gc(keep=True):
            made = [[i] for i in range(1000)]
        assert gc.get_freeze_count() >= before + len(made)
    finally:
        gc.unfreeze()
