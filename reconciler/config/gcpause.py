"""The cyclic garbage collector paused while large inputs are read, written once for every caller."""

from __future__ import annotations

import gc

__all__ = ["paused_gc"]


class paused_gc:  # lower case: used as a function, ``with paused_gc():``
    """No cyclic collection inside: loading, parsing and diffing make millions of short-lived objects
    and no cycles worth collecting (a third to a half of validate's time otherwise).

    ``keep``: what was made inside lives to the end of the run (a loaded
    config, a plan), so it is moved out of the collector's sight
    (``gc.freeze``) instead of being scanned by the next collections.
    Nested pauses leave the collector to the outermost one. A class, not a
    generator: a pause is taken around every contact file read.
    """

    __slots__ = ("_collecting", "_keep")

    def __init__(self, *, keep: bool = False) -> None:
        self._keep = keep
        self._collecting = False

    def __enter__(self) -> None:
        self._collecting = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._keep:
            gc.freeze()
        if self._collecting:
            gc.enable()
