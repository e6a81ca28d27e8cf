"""The task status machine on the simulated clock, driven with /_emulator/advance.

The clock starts on Monday 2027-03-01 08:00 Asia/Shanghai; the emulator dials 10 numbers
per simulated minute (one every 6 s) and every 3rd number never answers. Targets sit a
few seconds away from dial instants, so the real time a test takes cannot flip a result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from reconciler.emulator.xfyeta import XfyetaConfig

from .xfyeta_support import T0, Xf, ms, rows, running


@pytest.fixture
def xf() -> Iterator[Xf]:
    with running() as xf:
        yield xf


def go_to(xf: Xf, target_ms: int) -> None:
    """Advance the emulator clock to a Shanghai wall time (it only moves forward)."""
    now_ms = xf.emu.clock.now_ms()
    assert target_ms > now_ms, "tests must move forward"
    xf.advance((target_ms - now_ms) / 1000)


def test_full_lifecycle_with_recall(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9, 30), recall_count=1, time_recall_wait=600)
    xf.insert(task_id, rows(6))
    assert xf.row(task_id)["status"] == 0
    xf.ok("task/start", {"task_id": task_id})
    row = xf.row(task_id)
    assert row["status"] == 1  # started, before time_begin
    assert row["time_task_start"] >= int(T0 * 1000)
    go_to(xf, ms(2027, 3, 1, 9, 29))
    assert xf.row(task_id)["status"] == 1
    go_to(xf, ms(2027, 3, 1, 9, 30, 3))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"], row["remaining"]) == (2, 0, 6)
    go_to(xf, ms(2027, 3, 1, 9, 30, 33))  # dials at :06 :12 :18 :24 :30
    row = xf.row(task_id)
    assert (row["status"], row["process_count"], row["process_tel_count"], row["process_through_count"]) == (
        2, 5, 5, 4)
    go_to(xf, ms(2027, 3, 1, 9, 30, 40))  # 6th dial at :36, numbers 3 and 6 unanswered -> recall wait
    row = xf.row(task_id)
    assert (row["status"], row["process_count"], row["process_through_count"], row["remaining"]) == (5, 6, 4, 2)
    assert row["count_recalled"] == 0
    go_to(xf, ms(2027, 3, 1, 9, 40, 30))  # wait ends 09:40:36
    assert xf.row(task_id)["status"] == 5
    go_to(xf, ms(2027, 3, 1, 9, 40, 52))  # recall dials at 09:40:42 and :48
    row = xf.row(task_id)
    assert row["status"] == 4
    assert row["count_recalled"] == 1
    assert (row["process_count"], row["process_tel_count"], row["process_through_count"]) == (8, 6, 4)
    assert row["process_through_rate"] == pytest.approx(0.6667)
    assert row["remaining"] == 0
    assert row["time_task_finish"] == ms(2027, 3, 1, 9, 40, 48)
    numbers = xf.client.get("/_emulator/state").json()["tasks"][0]["numbers"]
    assert [n["attempts"] for n in numbers] == [1, 1, 2, 1, 1, 2]
    assert [n["answered"] for n in numbers] == [True, True, False, True, True, False]


def test_outside_windows_is_6_and_dialing_resumes_in_the_next_window(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 11, 58))
    xf.insert(task_id, rows(50))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 11, 59, 3))
    assert (xf.row(task_id)["status"], xf.row(task_id)["process_count"]) == (2, 10)
    go_to(xf, ms(2027, 3, 1, 12, 30))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"]) == (6, 20)
    go_to(xf, ms(2027, 3, 1, 13, 29, 59))
    assert (xf.row(task_id)["status"], xf.row(task_id)["process_count"]) == (6, 20)
    go_to(xf, ms(2027, 3, 1, 13, 31, 3))
    assert (xf.row(task_id)["status"], xf.row(task_id)["process_count"]) == (2, 30)
    go_to(xf, ms(2027, 3, 1, 13, 40))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"], row["process_through_count"]) == (4, 50, 34)


def test_progress_continues_on_the_next_day(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 19, 58))
    xf.insert(task_id, rows(30))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 23, 0))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"]) == (6, 20)
    go_to(xf, ms(2027, 3, 2, 9, 0, 30))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"]) == (2, 25)


def test_pause_freezes_progress_and_start_resumes(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9))
    xf.insert(task_id, rows(20))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 9, 0, 33))
    xf.ok("task/pause", {"task_id": task_id})
    assert (xf.row(task_id)["status"], xf.row(task_id)["process_count"]) == (3, 5)
    go_to(xf, ms(2027, 3, 1, 10))
    assert (xf.row(task_id)["status"], xf.row(task_id)["process_count"]) == (3, 5)
    xf.ok("task/start", {"task_id": task_id})
    assert xf.row(task_id)["status"] == 2
    go_to(xf, ms(2027, 3, 1, 10, 0, 40))
    # 5 + 7 dials (10:00:03, :09, ... :39): the 3 s accumulated before the pause still count
    assert xf.row(task_id)["process_count"] == 12
    go_to(xf, ms(2027, 3, 1, 11))
    assert xf.row(task_id)["status"] == 4


def test_past_time_end_before_done_is_expired(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9), time_end=ms(2027, 3, 1, 9, 1))
    xf.insert(task_id, rows(20))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 9, 5))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"], row["time_task_finish"]) == (7, 10, ms(2027, 3, 1, 9, 1))
    assert row["remaining"] == 0
    assert xf.code("task/start", {"task_id": task_id}) == 3010101


def test_expires_while_waiting_for_recall(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9), time_end=ms(2027, 3, 1, 9, 5), recall_count=2,
                        time_recall_wait=3600)
    xf.insert(task_id, rows(3))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 9, 1))
    assert xf.row(task_id)["status"] == 5
    go_to(xf, ms(2027, 3, 1, 9, 6))
    assert xf.row(task_id)["status"] == 7


def test_recall_rounds_are_capped_by_recall_count(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9), recall_count=3, time_recall_wait=60)
    xf.insert(task_id, rows(3))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 10))
    row = xf.row(task_id)
    assert (row["status"], row["count_recalled"], row["process_count"], row["process_through_count"]) == (
        4, 3, 6, 2)


def test_no_recall_finishes_after_one_pass() -> None:
    with running(XfyetaConfig(unanswered_every=0, dial_rate=60)) as xf:
        task_id = xf.create(time_begin=ms(2027, 3, 1, 9), recall_count=3, time_recall_wait=60)
        xf.insert(task_id, rows(10))
        xf.ok("task/start", {"task_id": task_id})
        go_to(xf, ms(2027, 3, 1, 9, 0, 10))
        row = xf.row(task_id)
        assert (row["status"], row["process_count"], row["process_through_count"], row["count_recalled"]) == (
            4, 10, 10, 0)
        assert row["process_through_rate"] == 1.0


def test_empty_task_finishes_in_its_first_window(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9))
    xf.ok("task/start", {"task_id": task_id})
    assert xf.row(task_id)["status"] == 1
    go_to(xf, ms(2027, 3, 1, 9, 0, 1))
    assert xf.row(task_id)["status"] == 4


def test_delete_stops_dialing_and_freezes_status(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9))
    xf.insert(task_id, rows(20))
    xf.ok("task/start", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 9, 0, 33))
    xf.ok("task/delete", {"task_id": task_id})
    go_to(xf, ms(2027, 3, 1, 11))
    row = xf.row(task_id)
    assert (row["deleted"], row["status"], row["process_count"], row["remaining"]) == (1, 2, 5, 0)


def test_not_started_task_never_dials(xf: Xf) -> None:
    task_id = xf.create(time_begin=ms(2027, 3, 1, 9))
    xf.insert(task_id, rows(5))
    go_to(xf, ms(2027, 3, 2, 12))
    row = xf.row(task_id)
    assert (row["status"], row["process_count"], row["time_task_start"]) == (0, 0, 0)


def test_windows_are_read_in_the_configured_timezone() -> None:
    at = ms(2027, 3, 1, 9, 30)  # 01:30 UTC
    with running(start=at / 1000) as shanghai:
        task_id = shanghai.create(time_begin=at - 60_000)
        shanghai.insert(task_id, rows(5))
        shanghai.ok("task/start", {"task_id": task_id})
        assert shanghai.row(task_id)["status"] == 2
    with running(XfyetaConfig(timezone="UTC"), start=at / 1000) as utc:
        task_id = utc.create(time_begin=at - 60_000)
        utc.insert(task_id, rows(5))
        utc.ok("task/start", {"task_id": task_id})
        assert utc.row(task_id)["status"] == 6


def test_time_scale_makes_progress_without_advance() -> None:
    with running(start=ms(2027, 3, 1, 9) / 1000, time_scale=6000) as xf:  # 1 real ms = 6 simulated s
        task_id = xf.create(time_begin=ms(2027, 3, 1, 9))
        xf.insert(task_id, rows(50))
        xf.ok("task/start", {"task_id": task_id})
        seen = {xf.row(task_id)["process_count"]}
        for _ in range(200):
            if xf.row(task_id)["status"] == 4:
                break
            seen.add(xf.row(task_id)["process_count"])
            time.sleep(0.01)
        assert xf.row(task_id)["status"] == 4
        assert len(seen) > 1  # progress was observed between the first query and the end


def test_advance_control_validates_input(xf: Xf) -> None:
    assert xf.client.post("/_emulator/advance", json={"seconds": -1}).status_code == 400
    assert xf.client.post("/_emulator/advance", json={"seconds": "10"}).status_code == 400
    before = xf.emu.clock.now_ms()
    r = xf.client.post("/_emulator/advance", json={"seconds": 90})
    assert r.status_code == 200
    assert r.json()["now_ms"] >= before + 90_000
