"""``providers.client.pages``: a paged listing, its later pages fetched side by side once page 1 gives the total."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from reconciler.errors import TransportError
from reconciler.providers.client import pages

Page = tuple[list[dict[str, int]], int | None]


class Listing:
    """A vendor listing of ``total`` rows, ``size`` a page, answered ``delay`` seconds late; records which pages
    were asked for and the most asked for at once."""

    def __init__(self, total: int, size: int = 50, delay: float = 0.0, *,
                 rows_of: Callable[[int], int] | None = None, fail: int | None = None) -> None:
        self.total, self.size, self.delay = total, size, delay
        self.rows_of = rows_of
        self.fail = fail
        self.asked: list[int] = []
        self.busy = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, page: int) -> Page:
        with self._lock:
            self.asked.append(page)
            self.busy += 1
            self.most = max(self.most, self.busy)
        try:
            time.sleep(self.delay)
            if page == self.fail:
                raise TransportError("no answer", profile="p", call="task/query")
            count = self.rows_of(page) if self.rows_of else max(0, min(self.size, self.total - (page - 1) * self.size))
            first = (page - 1) * self.size
            return [{"id": first + i} for i in range(count)], self.total
        finally:
            with self._lock:
                self.busy -= 1


def ids(rows: list[dict[str, int]]) -> list[int]:
    return [r["id"] for r in rows]


def test_one_page_at_a_time_by_default() -> None:
    listing = Listing(1000, delay=0.002)
    assert ids(list(pages(listing))) == list(range(1000))
    assert listing.asked == list(range(1, 21))
    assert listing.most == 1


def test_the_pages_after_the_first_go_side_by_side_and_come_back_in_order() -> None:
    """1,000 tasks are 20 pages: with ``ahead=4`` the 19 after the first take 5 round trips, not 19, and
    the vendor is asked for exactly the same pages (no call more than one at a time would make)."""
    listing = Listing(1000, delay=0.05)  # (long enough for four to overlap however slowly threads start)
    assert ids(list(pages(listing, ahead=4))) == list(range(1000))
    assert sorted(listing.asked) == list(range(1, 21))
    assert listing.asked[0] == 1
    assert listing.most == 4


def test_a_page_that_fails_fails_the_listing_and_the_pages_not_sent_yet_are_not_sent() -> None:
    listing = Listing(1000, delay=0.02, fail=3)
    with pytest.raises(TransportError):
        list(pages(listing, ahead=2))
    asked = list(listing.asked)
    assert 3 in asked and len(asked) < 20  # pages in flight when 3 failed finish; the rest are never sent
    time.sleep(0.1)
    assert listing.asked == asked  # nothing is sent once the error has reached the caller


def test_a_total_that_grew_meanwhile_is_read_on_one_page_at_a_time() -> None:
    """Tasks created while the listing runs: the pages page 1's total implies, then on as before."""
    listing = Listing(120)

    def fetch(page: int) -> Page:
        answer = listing(page)
        if page == 1:
            listing.total = 170  # two tasks more by the time pages 2 and 3 are answered
        return answer

    assert ids(list(pages(fetch, ahead=8))) == list(range(170))
    assert sorted(listing.asked) == [1, 2, 3, 4]


def test_an_empty_page_ends_the_listing_as_one_page_at_a_time_does() -> None:
    listing = Listing(500, rows_of=lambda page: 0 if page >= 3 else 50)
    assert ids(list(pages(listing, ahead=4))) == list(range(100))
    assert ids(list(pages(Listing(500, rows_of=lambda page: 0 if page >= 3 else 50)))) == list(range(100))


def test_a_vendor_that_caps_the_page_size_is_paged_by_the_size_it_answers() -> None:
    """Asked for 50, a vendor that answers 20 a page: page 1's length sets how many pages the total is."""
    listing = Listing(100, size=20)
    assert ids(list(pages(listing, ahead=3))) == list(range(100))
    assert sorted(listing.asked) == [1, 2, 3, 4, 5]
