"""Contract tests: the xfyeta client against the xfyeta emulator over real loopback HTTP.

Every vendor call, token fetch and refresh, pagination, exact-name filtering,
the phase map, reference checks, and the failure modes (lost answers, 5xx,
429, malformed bodies, connection refused), and that no secret leaks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone
from typing import Any

import httpx
import pytest

from reconciler.emulator.faults import Clock
from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.xfyeta import XfyetaConfig, XfyetaEmulator, XfyetaRobot
from reconciler.errors import AuthError, NotSent, OutcomeUnknown, ProviderError, TransportError, VendorError
from reconciler.model import (
    ContactRow,
    Contacts,
    DesiredCampaign,
    Mark,
    ProviderProfile,
    Recall,
    Schedule,
    Secret,
    TimeWindow,
    Voice,
)
from reconciler.providers import build_provider
from reconciler.providers.base import Phase, Provider
from reconciler.providers.xfyeta import XfyetaProvider
from tests.helpers.net import free_port

CST = timezone(timedelta(hours=8))
T0 = datetime(2027, 3, 1, 8, 0, 0, tzinfo=CST)  # a Monday, 08:00 in Shanghai
BEGIN = datetime(2027, 3, 1, 9, 0, 0, tzinfo=CST)
COLUMNS = ("客户手机号码", "姓名")
APP_KEY = "ak-contract-7781"
APP_SECRET = "as/contract+SECRET=42"
FIXED_TOKEN = "fixed-token-DO-NOT-LEAK-0042"
VOICE = Voice("60030")
NO_RECALL = Recall()
ENV = {"XF_KEY": APP_KEY, "XF_SECRET": APP_SECRET, "XF_TOKEN": FIXED_TOKEN}


def contacts(n: int, start: int = 0, columns: Sequence[str] = COLUMNS) -> tuple[ContactRow, ...]:
    out = []
    for i in range(start, start + n):
        phone = f"139{i:08d}"
        values = (phone, f"客户{i}", *(["2027-04-01"] * (len(columns) - 2)))
        out.append(ContactRow(phone, values[: len(columns)], "contacts.csv", i + 2))
    return tuple(out)


def campaign(name: str = "spring", *, n: int = 3, robot: str = "719", lines: Sequence[str] = ("69101338",),
             windows: Sequence[tuple[int, int, int, int]] = ((9, 0, 12, 0),), voice: Voice | None = VOICE,
             columns: Sequence[str] = COLUMNS, recall: Recall = NO_RECALL, end: datetime | None = None,
             turbo: bool = False, mode: str = "task", line: int = 4) -> DesiredCampaign:
    return DesiredCampaign(
        name=name,
        provider="iflytek",
        provider_type="xfyeta",
        mode=mode,  # type: ignore[arg-type]
        contacts=Contacts(tuple(columns), columns[0], contacts(n, columns=columns)),
        robot=robot,
        lines=tuple(lines),
        voice=voice,
        schedule=Schedule(begin=BEGIN, end=end,
                          windows=tuple(TimeWindow(time(a, b), time(c, d)) for a, b, c, d in windows)),
        recall=recall,
        turbo=turbo,
        mark=Mark(f"campaigns/{name}.yaml", line),
    )


def profile(base_url: str, *, token: bool = False, prefix: str = "gitops-", **options: Any) -> ProviderProfile:
    creds = {"token": "XF_TOKEN"} if token else {"app_key": "XF_KEY", "app_secret": "XF_SECRET"}
    return ProviderProfile(name="iflytek", type="xfyeta", base_url=base_url, name_prefix=prefix,
                           credentials_env=creds, options=options)


class SpyTransport(httpx.HTTPTransport):
    """A real loopback transport that remembers every token it carried (to prove none leaks)."""

    def __init__(self) -> None:
        super().__init__(verify=False)  # plain loopback HTTP; skips loading the CA bundle (~0.5 s)
        self.tokens: set[str] = set()
        self.busy = 0
        self.most = 0  # the most requests in flight at once
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("token")
        if token:
            self.tokens.add(token)
        with self._lock:
            self.busy += 1
            self.most = max(self.most, self.busy)
        try:
            return super().handle_request(request)
        finally:
            with self._lock:
                self.busy -= 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    emu: XfyetaEmulator
    server: EmulatorServer
    spy: SpyTransport
    sleeps: list[float] = field(default_factory=list)
    clock: FakeClock = field(default_factory=FakeClock)
    providers: list[XfyetaProvider] = field(default_factory=list)

    def provider(self, *, token: bool = False, prefix: str = "gitops-", base_url: str | None = None,
                 **options: Any) -> XfyetaProvider:
        prof = profile(base_url or self.server.base_url, token=token, prefix=prefix, **options)
        creds = {"token": Secret(FIXED_TOKEN)} if token else {"app_key": Secret(APP_KEY),
                                                              "app_secret": Secret(APP_SECRET)}
        p = XfyetaProvider(prof, credentials=creds, transport=self.spy, sleep=self.sleeps.append, clock=self.clock)
        self.providers.append(p)
        return p

    def calls(self, suffix: str) -> list[dict[str, Any]]:
        return [c for c in self.emu.calls if c["path"].endswith(suffix)]

    def faults(self, spec: str) -> None:
        self.emu.faults.add(spec)


@contextmanager
def make_rig(**config: Any) -> Iterator[Rig]:
    """An emulator (clock at T0, demo fixtures plus ``config``) served on loopback, and a provider factory."""
    emu = XfyetaEmulator(XfyetaConfig(app_key=APP_KEY, app_secret=APP_SECRET, **config), token=FIXED_TOKEN,
                         clock=Clock(start=T0.timestamp()))
    spy = SpyTransport()
    with EmulatorServer(emu) as server:
        r = Rig(emu, server, spy)
        try:
            yield r
        finally:
            for p in r.providers:
                p.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    with make_rig() as r:
        yield r


def test_build_provider_reads_env_and_satisfies_protocol(rig: Rig) -> None:
    p = build_provider(profile(rig.server.base_url), ENV)
    try:
        assert isinstance(p, Provider) and isinstance(p, XfyetaProvider)
        assert p.list_tasks() == []
        caps, limits = p.capabilities, p.limits
        assert (caps.direct_callout, caps.add_after_start, caps.remove_contacts, caps.delete_is_end,
                caps.create_with_contacts, caps.windows) == (True, False, False, False, False, True)
        assert (limits.add_batch, limits.create_batch, limits.callout_batch, limits.list_page) == (50, 0, 50, 50)
    finally:
        p.close()


def test_build_provider_missing_variable_names_it_never_a_value(rig: Rig) -> None:
    with pytest.raises(AuthError) as info:
        build_provider(profile(rig.server.base_url), {"XF_KEY": APP_KEY})
    assert "XF_SECRET" in str(info.value) and "iflytek" in str(info.value)
    assert APP_KEY not in str(info.value)
    with pytest.raises(AuthError, match="XF_TOKEN"):
        build_provider(profile(rig.server.base_url, token=True), {})


def test_names_and_ownership(rig: Rig) -> None:
    p = rig.provider()
    assert p.task_name("spring", 1) == "gitops-spring"
    assert p.task_name("spring", 3) == "gitops-spring~3"
    c = campaign("spring")
    task_id = p.create_task(c, 2).task_id
    task = p.get_task(task_id)
    assert task is not None and task.name == "gitops-spring~2" and p.owns(task)
    assert not p.owns(replace(task, name="other-gitops-spring"))


# -- token ---------------------------------------------------------------------


def test_token_fetched_once_and_cached(rig: Rig) -> None:
    p = rig.provider()
    for _ in range(3):
        p.list_tasks()
    assert len(rig.calls("oauth/v1/token")) == 1
    assert all(c["body"]["app_secret"] == "***" for c in rig.calls("oauth/v1/token"))


def test_token_refreshed_refresh_margin_before_expiry(rig: Rig) -> None:
    p = rig.provider(refresh_margin=300)
    p.list_tasks()
    rig.clock.now += 3600 - 300 - 1
    p.list_tasks()
    assert len(rig.calls("oauth/v1/token")) == 1
    rig.clock.now += 2
    p.list_tasks()
    assert len(rig.calls("oauth/v1/token")) == 2
    assert p.token_fetches == 2


def test_invalid_token_refreshed_once_and_call_resent(rig: Rig) -> None:
    p = rig.provider()
    p.list_tasks()
    rig.emu.expire_tokens()
    assert p.list_tasks() == []
    paths = [(c["path"].rsplit("/", 1)[-1], c["code"]) for c in rig.emu.calls]
    assert paths == [("token", 0), ("query", 0), ("query", 10001), ("token", 0), ("query", 0)]


def test_invalid_token_on_create_resends_create_exactly_once(rig: Rig) -> None:
    p = rig.provider()
    p.list_tasks()
    rig.faults("task/create:expire-token")
    task_id = p.create_task(campaign(), 1).task_id
    creates = rig.calls("task/create")
    assert [c["code"] for c in creates] == [10001, 0]
    assert [t["task_id"] for t in rig.emu.state()["tasks"]] == [task_id]


def test_token_refused_twice_is_auth_error(rig: Rig) -> None:
    p = rig.provider()
    rig.faults("task/query:error:10001*2")
    with pytest.raises(AuthError) as info:
        p.list_tasks()
    assert info.value.vendor_code == "10001"
    assert len(rig.calls("task/query")) == 2


def test_concurrent_threads_share_one_refresh(rig: Rig) -> None:
    p = rig.provider()
    p.list_tasks()
    rig.emu.expire_tokens()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        try:
            barrier.wait()
            p.list_tasks()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(rig.calls("oauth/v1/token")) == 2  # the first fetch plus exactly one refresh


def test_ready_token_used_and_expiry_is_auth_error(rig: Rig) -> None:
    p = rig.provider(token=True)
    p.list_tasks()
    assert rig.calls("oauth/v1/token") == []
    rig.emu.expire_tokens()
    with pytest.raises(AuthError) as info:
        p.list_tasks()
    text = str(info.value)
    assert "expired" in text and "cannot be refreshed" in text and "iflytek" in text and "task/query" in text
    assert FIXED_TOKEN not in text and FIXED_TOKEN not in repr(info.value)


def test_wrong_app_secret_is_auth_error(rig: Rig) -> None:
    prof = profile(rig.server.base_url)
    p = XfyetaProvider(prof, credentials={"app_key": Secret(APP_KEY), "app_secret": Secret("wrong-secret-99")},
                       transport=rig.spy, sleep=rig.sleeps.append)
    try:
        with pytest.raises(AuthError) as info:
            p.list_tasks()
    finally:
        p.close()
    assert info.value.vendor_code == "200101"
    assert "wrong app_key or app_secret" in str(info.value)
    assert "wrong-secret-99" not in str(info.value)


# -- requests ------------------------------------------------------------------


def test_create_insert_start_pause_delete_requests_as_documented(rig: Rig) -> None:
    p = rig.provider()
    c = campaign(n=3, lines=("69101338", "96866001"), windows=((9, 0, 12, 0), (13, 30, 20, 0)),
                 recall=Recall(count=2, wait=600), end=datetime(2027, 3, 31, 20, 0, tzinfo=CST), turbo=True)
    task_id = p.create_task(c, 1).task_id
    body = rig.calls("task/create")[-1]["body"]
    assert body == {
        "task_name": "gitops-spring",
        "line_num": "69101338;96866001",
        "robot_id": "719",
        "time_range": ["09:00:00-12:00:00", "13:30:00-20:00:00"],
        "time_begin": int(BEGIN.timestamp() * 1000),
        "time_end": int(datetime(2027, 3, 31, 20, 0, tzinfo=CST).timestamp() * 1000),
        "recall_count": 2,
        "time_recall_wait": 600,
        "voice_code": "60030",
        "trubo_mode": True,
    }
    added = p.add_contacts(task_id, c, c.contacts.rows)
    assert added.accepted == 3 and len(added.data_ids) == 3
    assert all(isinstance(i, str) and i.isdigit() for i in added.data_ids)
    insert = rig.calls("task/insert")[-1]["body"]
    assert insert == {"task_id": task_id, "call_column": list(COLUMNS),
                      "call_list": [list(r.values) for r in c.contacts.rows]}
    assert p.count_contacts(task_id) == 3
    p.start(task_id)
    p.pause(task_id)
    p.delete(task_id)
    for op in ("start", "pause", "delete"):
        assert rig.calls(f"task/{op}")[-1]["body"] == {"task_id": task_id}
        assert rig.calls(f"task/{op}")[-1]["code"] == 0


def test_line_separator_option() -> None:
    with make_rig(line_separator=",") as rig:
        p = rig.provider(line_separator=",")
        p.create_task(campaign(lines=("69101338", "96866001")), 1)
        assert rig.calls("task/create")[-1]["body"]["line_num"] == "69101338,96866001"


def test_the_calls_that_dial_ask_their_gate_right_before_they_go_out(rig: Rig) -> None:
    p = rig.provider()
    direct = campaign(mode="direct", n=2)
    task = campaign(n=2)
    # the gate closes while the token is fetched (slow): the token call goes, the callout does not
    with pytest.raises(NotSent) as info:
        p.callout(direct, direct.contacts.rows, gate=lambda: "outside calling hours" if rig.calls("token") else "")
    assert info.value.call == "task/callout" and "outside calling hours" in str(info.value)
    assert len(rig.calls("token")) == 1 and rig.calls("task/callout") == []
    task_id = p.create_task(task, 1).task_id
    closed = lambda: "the hours closed"  # noqa: E731
    with pytest.raises(NotSent):
        p.add_contacts(task_id, task, task.contacts.rows, gate=closed)
    with pytest.raises(NotSent):
        p.start(task_id, gate=closed)
    assert rig.calls("task/insert") == [] and rig.calls("task/start") == []
    assert rig.emu.state()["dials"] == [] and p.count_contacts(task_id) == 0
    open_now = lambda: ""  # noqa: E731
    assert p.add_contacts(task_id, task, task.contacts.rows, gate=open_now).accepted == 2
    p.start(task_id, gate=open_now)
    assert p.callout(direct, direct.contacts.rows, gate=open_now).accepted == 2


def test_callout_sends_speed_and_returns_data_ids_as_strings(rig: Rig) -> None:
    p = rig.provider()
    c = campaign(mode="direct", voice=Voice("60120", speed=200), n=4)
    result = p.callout(c, c.contacts.rows)
    dials = rig.emu.state()["dials"]
    assert result.accepted == 4
    assert result.data_ids == tuple(str(d["task_data_id"]) for d in dials)
    body = rig.calls("task/callout")[-1]["body"]
    assert body["robot_speed"] == 200 and body["voice_code"] == "60120"
    assert body["line_num"] == "69101338" and body["robot_id"] == "719"
    assert body["call_column"] == list(COLUMNS) and len(body["call_list"]) == 4
    p.create_task(campaign(), 1)
    assert "robot_speed" not in rig.calls("task/create")[-1]["body"]


def test_batches_over_the_limit_are_refused_before_any_call(rig: Rig) -> None:
    p = rig.provider()
    c = campaign(n=51)
    with pytest.raises(ValueError, match="at most 50"):
        p.add_contacts("1", c, c.contacts.rows)
    with pytest.raises(ValueError, match="at most 50"):
        p.callout(c, c.contacts.rows)
    with pytest.raises(ValueError):
        p.create_task(c, 1, c.contacts.rows[:1])
    assert rig.emu.calls == []
    with pytest.raises(ProviderError, match="removes numbers"):
        p.remove_contacts("1", c, ["13900000000"])


# -- listing -------------------------------------------------------------------


def test_list_tasks_paginates_past_50(rig: Rig) -> None:
    p = rig.provider()
    for i in range(120):
        p.create_task(campaign(f"c{i:03d}", n=0), 1)
    listed = p.list_tasks()
    assert [t.name for t in listed] == [f"gitops-c{i:03d}" for i in range(120)]  # CREATETIME ASC
    queries = rig.calls("task/query")
    assert len(queries) == 3
    assert queries[0]["body"]["page_index"] == 1  # it gives the total; pages 2 and 3 go side by side
    assert sorted(q["body"]["page_index"] for q in queries) == [1, 2, 3]
    assert all(q["body"]["page_size"] == 50 and q["body"]["task_name"] == "gitops-" for q in queries)
    assert all(q["body"]["sort_name"] == "CREATETIME" and q["body"]["sort_order"] == "ASC" for q in queries)


def test_listing_pages_after_the_first_are_asked_for_side_by_side_up_to_the_profiles_parallelism(rig: Rig) -> None:
    """1,000 tasks are 20 pages: against a vendor that answers 50 ms late, one page at a time is a second
    of listing before any plan. Page 1 gives the total; the rest go ``listing_parallelism`` at a time, the
    same 20 calls. With 1 (a vendor that refuses parallel queries) it is one page at a time. (Answered 0.1 s late here,
    so the requests in flight overlap however slowly the threads start.)"""
    maker = rig.provider()
    for i in range(260):
        maker.create_task(campaign(f"c{i:03d}", n=0), 1)
    rig.faults("task/query:latency:0.1*inf")
    for parallelism, most in ((4, 4), (1, 1)):
        p = rig.provider(listing_parallelism=parallelism)
        before = len(rig.calls("task/query"))
        rig.spy.most = 0
        listed = p.list_tasks()
        assert [t.name for t in listed] == [f"gitops-c{i:03d}" for i in range(260)]
        queries = rig.calls("task/query")[before:]
        assert sorted(q["body"]["page_index"] for q in queries) == [1, 2, 3, 4, 5, 6]
        assert rig.spy.most == most


def test_exact_names_over_fuzzy_search(rig: Rig) -> None:
    mine = rig.provider()
    other = rig.provider(prefix="other-gitops-")
    a = mine.create_task(campaign("a"), 1).task_id
    ab = mine.create_task(campaign("a-b"), 1).task_id
    a2 = mine.create_task(campaign("a"), 2).task_id
    foreign = other.create_task(campaign("a"), 1).task_id
    assert len(rig.calls("task/query")) == 0
    assert {t.task_id for t in mine.list_tasks()} == {a, ab, a2}
    assert foreign not in {t.task_id for t in mine.list_tasks()}
    found = mine.find_task("a", 1)
    assert found is not None and found.task_id == a and found.name == "gitops-a"
    wave2 = mine.find_task("a", 2)
    assert wave2 is not None and wave2.task_id == a2
    assert mine.find_task("a-b", 1) is not None and mine.find_task("a-b", 1).task_id == ab  # type: ignore[union-attr]
    assert mine.find_task("b", 1) is None
    assert rig.calls("task/query")[-1]["body"]["task_name"] == "gitops-b"


def test_find_task_newest_first_and_deleted_only_as_last_resort(rig: Rig) -> None:
    p = rig.provider()
    first = p.create_task(campaign(), 1).task_id
    p.delete(first)
    only_deleted = p.find_task("spring", 1)
    assert only_deleted is not None and only_deleted.task_id == first and only_deleted.deleted
    second = p.create_task(campaign(), 1).task_id
    third = p.create_task(campaign(), 1).task_id
    found = p.find_task("spring", 1)
    assert found is not None and found.task_id == third and not found.deleted
    p.delete(third)
    found = p.find_task("spring", 1)
    assert found is not None and found.task_id == second


def test_get_task_unknown_is_none(rig: Rig) -> None:
    p = rig.provider()
    assert p.get_task("987654") is None
    with pytest.raises(VendorError):
        p.count_contacts("987654")


# -- phases --------------------------------------------------------------------


def test_every_phase(rig: Rig) -> None:
    p = rig.provider()

    def observe(task_id: str) -> tuple[int, Phase, bool]:
        task = p.get_task(task_id)
        assert task is not None
        return task.status, task.phase, task.started

    main = campaign("main", n=50, recall=Recall(count=1, wait=600))
    a = p.create_task(main, 1).task_id
    p.add_contacts(a, main, main.contacts.rows)
    assert observe(a) == (0, Phase.NOT_STARTED, False)
    late = campaign("late", n=1, windows=((13, 30, 20, 0),))
    b = p.create_task(replace(late, name="expiring", schedule=replace(
        late.schedule, end=datetime(2027, 3, 1, 9, 30, tzinfo=CST))), 1).task_id
    c = p.create_task(late, 1).task_id
    d = p.create_task(campaign("held", n=1), 1).task_id
    for task_id, camp in ((b, late), (c, late), (d, campaign("held", n=1))):
        p.add_contacts(task_id, camp, camp.contacts.rows)
    for task_id in (a, b, c, d):
        p.start(task_id)
    assert observe(a) == (1, Phase.RUNNING, True)  # started, before time_begin
    p.pause(d)
    assert observe(d) == (3, Phase.PAUSED, True)
    rig.emu.advance(61 * 60)  # 09:01
    assert observe(a) == (2, Phase.RUNNING, True)
    assert observe(c) == (6, Phase.RUNNING, True)  # outside its working hours
    rig.emu.advance(9 * 60)  # 09:10: first round done, waiting for the recall round
    assert observe(a) == (5, Phase.RUNNING, True)
    rig.emu.advance(30 * 60)  # 09:40
    assert observe(a) == (4, Phase.FINISHED, True)
    assert observe(b) == (7, Phase.FINISHED, True)  # expired at time_end
    done = p.get_task(a)
    assert done is not None
    assert (done.contact_count, done.called, done.answered) == (50, 50, 34)
    assert done.raw["time_range"] == ["09:00:00-12:00:00"]
    p.delete(d)
    gone = p.get_task(d)
    assert gone is not None and gone.deleted and gone.phase is Phase.ABSENT and gone.started


def test_unknown_and_missing_fields_are_tolerated(rig: Rig) -> None:
    p = rig.provider()
    task = p._observe({"task_id": 77, "task_name": "gitops-x", "status": 9, "time_task_start": 5,
                       "time_range": "not json", "count_tel": "12", "new_field": {"a": 1}})
    assert task.task_id == "77" and task.phase is Phase.RUNNING and task.started
    assert task.contact_count == 12 and task.called is None and task.raw["time_range"] == []
    bare = p._observe({"task_id": "78"})
    assert bare.phase is Phase.NOT_STARTED and not bare.started and bare.name == ""


# -- check() -------------------------------------------------------------------


def test_check_accepts_good_campaigns_with_one_config_query(rig: Rig) -> None:
    p = rig.provider()
    good = [campaign("a"), campaign("b", robot="721", columns=("客户手机号码",), lines=("055169101407",),
                                    windows=((9, 0, 12, 0), (13, 0, 18, 0)), voice=None)]
    assert p.check(good) == []
    assert len(rig.calls("config/v1/query")) == 1
    assert p.check([replace(good[0], provider="elsewhere")]) == []
    assert len(rig.calls("config/v1/query")) == 1
    off = rig.provider(check_references=False)
    assert off.check([campaign(robot="404")]) == []


def test_check_reports_each_reference_problem(rig: Rig) -> None:
    p = rig.provider()
    campaigns = [
        campaign("missing-robot", robot="404", line=3),
        campaign("draft-robot", robot="799", line=5),
        campaign("wrong-columns", robot="720", line=7),
        campaign("swapped-columns", columns=("姓名", "客户手机号码"), line=9),
        campaign("expired-line", lines=("01088880000",), line=11),
        campaign("unknown-line", lines=("12345",), line=13),
        campaign("late-window", lines=("055169101407",), windows=((9, 0, 12, 0), (17, 0, 19, 0)), line=15),
        campaign("bad-voice", voice=Voice("99999"), line=17),
    ]
    problems = p.check(campaigns)
    got = {(pr.file, pr.line, pr.field) for pr in problems}
    assert got == {
        ("campaigns/missing-robot.yaml", 3, "robot"),
        ("campaigns/draft-robot.yaml", 5, "robot"),
        ("campaigns/wrong-columns.yaml", 7, "contacts.columns"),
        ("campaigns/swapped-columns.yaml", 9, "contacts.columns"),
        ("campaigns/expired-line.yaml", 11, "lines"),
        ("campaigns/unknown-line.yaml", 13, "lines"),
        ("campaigns/late-window.yaml", 15, "schedule.windows"),
        ("campaigns/bad-voice.yaml", 17, "voice.code"),
    }
    text = {pr.file.split("/")[-1]: pr.message for pr in problems}
    assert "not published" in text["draft-robot.yaml"] and "in review" in text["draft-robot.yaml"]
    assert "到期日" in text["wrong-columns.yaml"] and "missing" in text["wrong-columns.yaml"]
    assert "another order" in text["swapped-columns.yaml"]
    assert "expired" in text["expired-line.yaml"]
    assert "17:00:00-19:00:00" in text["late-window.yaml"] and "09:00:00-18:00:00" in text["late-window.yaml"]
    assert "12:00" not in text["late-window.yaml"].split("window")[1].split("is")[0]
    assert "99999" in text["bad-voice.yaml"]
    assert len(rig.calls("config/v1/query")) == 1


def test_check_pages_robots_when_the_listing_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    robots = tuple(XfyetaRobot(str(9000 + i), f"r{i}", COLUMNS) for i in range(120))
    with make_rig(robots=robots) as rig:
        _check_pages_robots(rig, monkeypatch)


def _check_pages_robots(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    p = rig.provider()
    original = p._call

    def short_first_answer(call: str, body: Any, **kw: Any) -> Any:
        result = original(call, body, **kw)
        if call == "config/query" and body.get("type") == 0:
            result = {**result, "robots": result["robots"][:10]}  # a vendor that pages robots
        return result

    monkeypatch.setattr(p, "_call", short_first_answer)
    assert p.check([campaign(robot="9119")]) == []
    pages = [c["body"] for c in rig.calls("config/v1/query")]
    assert pages[0] == {"type": 0}
    assert pages[1].get("pageIndex") == 1  # it gives the total; pages 2 and 3 go side by side
    assert sorted(b.get("pageIndex") for b in pages[1:]) == [1, 2, 3]
    assert all(b["type"] == 1 for b in pages[1:])


# -- vendor errors -------------------------------------------------------------


def test_vendor_error_names_profile_call_campaign_with_gloss(rig: Rig) -> None:
    p = rig.provider()
    with pytest.raises(VendorError) as info:
        p.create_task(campaign("spring", robot="799"), 1)
    err = info.value
    assert err.vendor_code == "200204" and not isinstance(err, OutcomeUnknown)
    assert (err.profile, err.call, err.campaign) == ("iflytek", "task/create", "spring")
    assert "bad robot id" in str(err) and "799" in str(err)


def test_busy_retried_for_idempotent_calls_only(rig: Rig) -> None:
    p = rig.provider()
    task_id = p.create_task(campaign(), 1).task_id
    rig.faults("task/start:error:10004*2")
    p.start(task_id)
    assert [c["code"] for c in rig.calls("task/start")] == [10004, 10004, 0]
    assert len(rig.sleeps) == 2
    rig.faults("task/create:error:10004")
    with pytest.raises(VendorError) as info:
        p.create_task(campaign(), 1)
    assert info.value.vendor_code == "10004" and info.value.retryable
    assert len(rig.calls("task/create")) == 2


def test_delete_twice_is_success_and_finished_is_vendor_error(rig: Rig) -> None:
    p = rig.provider()
    c = campaign(n=1)
    task_id = p.create_task(c, 1).task_id
    p.add_contacts(task_id, c, c.contacts.rows)
    p.delete(task_id)
    p.delete(task_id)
    assert [x["code"] for x in rig.calls("task/delete")] == [0, 3010102]
    other = p.create_task(c, 1).task_id
    p.add_contacts(other, c, c.contacts.rows)
    p.start(other)
    rig.emu.advance(2 * 3600)
    with pytest.raises(VendorError) as info:
        p.start(other)
    assert info.value.vendor_code == "3010101" and "already finished" in str(info.value)


def test_lost_delete_answer_then_retry_sees_already_deleted(rig: Rig) -> None:
    p = rig.provider()
    task_id = p.create_task(campaign(), 1).task_id
    rig.faults("task/delete:drop")
    p.delete(task_id)
    assert [x["code"] for x in rig.calls("task/delete")] == [0, 3010102]


# -- transport failures --------------------------------------------------------


def test_dropped_create_is_outcome_unknown_then_find_task_finds_it(rig: Rig) -> None:
    p = rig.provider()
    rig.faults("task/create:drop")
    with pytest.raises(OutcomeUnknown) as info:
        p.create_task(campaign("spring"), 1)
    assert info.value.campaign == "spring" and info.value.call == "task/create"
    assert len(rig.calls("task/create")) == 1  # never re-sent
    found = p.find_task("spring", 1)
    assert found is not None and found.phase is Phase.NOT_STARTED


@pytest.mark.parametrize("op", ["task/insert", "task/callout"])
def test_dropped_insert_or_callout_is_outcome_unknown_never_resent(rig: Rig, op: str) -> None:
    p = rig.provider()
    c = campaign(n=5)
    task_id = p.create_task(c, 1).task_id
    rig.faults(f"{op}:drop")
    with pytest.raises(OutcomeUnknown):
        if op == "task/insert":
            p.add_contacts(task_id, c, c.contacts.rows)
        else:
            p.callout(c, c.contacts.rows)
    assert len(rig.calls(op)) == 1
    if op == "task/insert":
        assert p.count_contacts(task_id) == 5  # the change landed; the engine learns it by counting
    else:
        assert len(rig.emu.state()["dials"]) == 5


def test_5xx_on_query_retried(rig: Rig) -> None:
    p = rig.provider()
    p.create_task(campaign(), 1)
    rig.faults("task/query:status:503*2")
    assert [t.name for t in p.list_tasks()] == ["gitops-spring"]
    assert [c["status"] for c in rig.calls("task/query")] == [503, 503, 200]
    assert len(rig.sleeps) == 2


def test_5xx_on_create_is_outcome_unknown(rig: Rig) -> None:
    p = rig.provider()
    rig.faults("task/create:status:502")
    with pytest.raises(OutcomeUnknown):
        p.create_task(campaign(), 1)
    assert len(rig.calls("task/create")) == 1


def test_429_retry_after_honoured_even_for_create(rig: Rig) -> None:
    p = rig.provider()
    rig.faults("task/query:429:7")
    p.list_tasks()
    assert 7.0 in rig.sleeps
    rig.faults("task/create:429:2")
    p.create_task(campaign(), 1)
    assert [c["status"] for c in rig.calls("task/create")] == [429, 200]
    assert rig.sleeps[-1] == 2.0
    assert len(rig.emu.state()["tasks"]) == 1


def test_malformed_body_is_a_clear_error(rig: Rig) -> None:
    p = rig.provider()
    rig.faults("task/query:malformed")
    with pytest.raises(TransportError) as info:
        p.list_tasks()
    assert not isinstance(info.value, OutcomeUnknown)
    assert "not JSON" in str(info.value) and "text/html" in str(info.value) and "task/query" in str(info.value)
    rig.faults("task/create:malformed")
    with pytest.raises(OutcomeUnknown) as unknown:
        p.create_task(campaign(), 1)
    assert "not JSON" in str(unknown.value) and unknown.value.campaign == "spring"
    rig.faults("task/create:malformed:truncated")
    with pytest.raises(OutcomeUnknown):
        p.create_task(campaign(), 1)
    assert p.find_task("spring", 1) is not None  # the truncated answer hid a task that was created


def test_connection_refused_is_transport_error_naming_profile_and_call(rig: Rig) -> None:
    p = rig.provider(base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportError) as info:
        p.list_tasks()
    err = info.value
    assert not isinstance(err, OutcomeUnknown)
    assert err.profile == "iflytek" and err.call == "oauth/token"
    assert "cannot connect" in str(err) and "'iflytek'" in str(err) and "oauth/token" in str(err)
    assert len(rig.sleeps) == 3  # four tries
    q = rig.provider(token=True, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportError) as info2:
        q.create_task(campaign("spring"), 1)
    assert info2.value.call == "task/create" and info2.value.campaign == "spring"
    assert not isinstance(info2.value, OutcomeUnknown)


# -- secrets -------------------------------------------------------------------


def _chain(exc: BaseException) -> str:
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), str(getattr(seen, "args", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def test_no_secret_in_errors_logs_or_reprs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pair = rig.provider()
    fixed = rig.provider(token=True)
    failures: list[Callable[[], object]] = []
    texts: list[str] = [repr(pair), repr(fixed), repr(pair.http)]

    rig.faults("task/query:malformed")
    failures.append(pair.list_tasks)
    rig.faults("task/query:status:503*4")
    failures.append(pair.list_tasks)
    failures.append(lambda: pair.create_task(campaign(robot="799"), 1))
    failures.append(lambda: (rig.faults("task/create:drop"), pair.create_task(campaign(), 1)))
    failures.append(lambda: (rig.faults("task/insert:status:500"), pair.add_contacts("1001", campaign(), contacts(2))))
    failures.append(lambda: (rig.emu.expire_tokens(), fixed.list_tasks()))
    failures.append(lambda: rig.provider(base_url=f"http://127.0.0.1:{free_port()}").list_tasks())
    for fail in failures:
        with pytest.raises(ProviderError) as info:
            fail()
        texts.append(_chain(info.value))
    pair.list_tasks()  # a successful refresh after the expiry, logged at debug level too
    texts += [str(vars(pair)), str(vars(fixed)), str(vars(pair.http))]  # even a debugger's dump of the objects
    texts += [r.getMessage() for r in caplog.records]
    texts.append(caplog.text)
    assert any("token=***" in r.getMessage() for r in caplog.records)  # URLs logged, redacted
    secrets = {APP_SECRET, APP_KEY, FIXED_TOKEN, *rig.spy.tokens}
    assert len(rig.spy.tokens) >= 3  # two fetched tokens and the fixed one travelled
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob
    assert "app/secret" not in blob and "as%2Fcontract" not in blob
