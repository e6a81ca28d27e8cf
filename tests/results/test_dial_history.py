"""The dial attempts the results show (frequency caps count them): one per call, at the vendor's dial time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.commands.session import open_session
from reconciler.results.outcomes import dial_history
from reconciler.state.base import ResultRecord
from reconciler.state.sqlite import SqliteStore
from tests.e2e.conftest import XF_ENV, YC_ENV
from tests.results.conftest import XF_PHONES, YC_PHONES, call_record, make_project


def record(key: str, module: str, call: str, phone: str, body: dict[str, object], *, profile: str = "iflytek",
           campaign: str = "promo", received: str = "2027-03-02T02:00:00+00:00", n: int = 0) -> ResultRecord:
    return ResultRecord(profile, module, key, call, body=body, campaign=campaign, phone=phone, received_at=received,
                        id=n)


def test_one_dial_per_call_at_the_vendors_dial_time_else_at_arrival() -> None:
    first = call_record("u1", "100001", XF_PHONES[0], answered=False, result="20")
    second = call_record("u2", "900001", XF_PHONES[0], tries=1)
    records = [
        record("u1#basic", "receiveCallRecord", "u1", XF_PHONES[0], call_record("u1", None, XF_PHONES[0],
                                                                                 outbound=False), n=1),
        record("u1#outbound", "receiveCallRecord", "u1", XF_PHONES[0], first, n=2),
        record("u1", "receiveDialog", "u1", XF_PHONES[0], {"dialog": []}, n=3),
        record("u2#outbound", "receiveCallRecord", "u2", XF_PHONES[0], second, n=4),
        record("y1", "callrecord", "y1", YC_PHONES[0], {"hangupcause": 10001}, profile="callcenter", campaign="cc",
               received="2027-03-02T03:00:00Z", n=5),
        record("lost", "receiveCallRecord", "lost", "", first, campaign="", n=6),  # joined to nobody
        record("ts", "taskstatus", "", "", {"status": "3"}, profile="callcenter", campaign="cc", n=7),
    ]
    history = dial_history(records)
    assert set(history) == {XF_PHONES[0], YC_PHONES[0]}
    assert history[XF_PHONES[0]] == (("promo", datetime.fromtimestamp(1527737756.729, UTC)),
                                     ("promo", datetime.fromtimestamp(1527737756.730, UTC)))
    assert history[YC_PHONES[0]] == (("cc", datetime(2027, 3, 2, 3, tzinfo=UTC)),)


def test_push_times_in_seconds_are_read_as_seconds() -> None:
    # the push document calls them "unix_time" while its samples are milliseconds: a platform that sends
    # seconds must not put yesterday's dial in January 1970 (a frequency cap would not count it)
    body = call_record("u1", "100001", XF_PHONES[0])
    in_ms = dict(body, time_dial=1803862800123, time_ring=1803862805123, time_hangup=1803862840123)
    in_s = dict(body, time_dial=1803862800, time_ring=1803862805, time_hangup=1803862840)
    ms = dial_history([record("u1#outbound", "receiveCallRecord", "u1", XF_PHONES[0], in_ms, n=1)])
    s = dial_history([record("u1#outbound", "receiveCallRecord", "u1", XF_PHONES[0], in_s, n=1)])
    assert ms[XF_PHONES[0]] == (("promo", datetime.fromtimestamp(1803862800.123, UTC)),)
    assert s[XF_PHONES[0]] == (("promo", datetime.fromtimestamp(1803862800, UTC)),)


def test_the_session_reads_the_dial_history_only_when_a_cap_is_configured(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {**XF_ENV, **YC_ENV}.items():
        monkeypatch.setenv(k, v)
    plain = make_project(tmp_path / "plain")
    capped = make_project(tmp_path / "capped", extra="policy:\n  max_dials: {count: 2, days: 7}\n")
    for directory, state in ((plain, tmp_path / "plain" / "state.db"), (capped, tmp_path / "capped" / "state.db")):
        with SqliteStore(state) as store:
            store.put_results([ResultRecord("iflytek", "receiveCallRecord", "u1#outbound", "u1", "1001", "100001",
                                            XF_PHONES[0], call_record("u1", "100001", XF_PHONES[0]))])
        with open_session(directory) as session:
            dials = session.recorded().dials  # read from the state when first asked (while it is open)
            assert (directory == capped) == bool(dials)
            if directory == capped:
                assert [c for c, _ in dials[XF_PHONES[0]]] == ["promo"]
