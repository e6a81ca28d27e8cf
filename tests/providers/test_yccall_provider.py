"""YccallProvider against the yccall emulator over real loopback HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.yccall import YccallEmulator
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
)
from reconciler.providers.base import Phase, Provider
from reconciler.providers.http import RetryPolicy
from reconciler.providers.yccall import CUSTOMTASKID_MAX, YccallProvider
from reconciler.vendors.yccall import YccallSettings

CREATE = "App.Sip_Yccall.TaskCreat"
ADD = "App.Sip_Yccall.TaskAdd"
LIST = "App.Sip_Yccall.TaskList"
LOGIN = "App.Sip_Auth.Login"
CST = timezone(timedelta(hours=8))
CREDS = {"appid": Secret("demo-appid"), "accesskey": Secret("demo-accesskey")}
OPTIONS: dict[str, Any] = {
    "name_prefix": "gitops-", "customtaskid_prefix": "gitops-", "timezone": "Asia/Shanghai",
    "assign_types": {"extension": 1, "queue": 2, "group": 3},
    "status_map": {1025: "not-started", 1026: "running", 1027: "paused", 1028: "finished"},
    "list_status_filter": {"not-started": 0, "running": 1, "paused": 2, "finished": 3},
    "body_encoding": "form", "page_size": 100, "max_numbers_per_call": 10000, "phone_as_number": False,
    "check_references": True, "connect_timeout": 5, "read_timeout": 30, "retries": 3, "rate_limit": None,
}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[YccallEmulator, str]]:
    emulator = YccallEmulator()
    with EmulatorServer(emulator) as server:
        yield emulator, server.base_url


@pytest.fixture
def emu(served: tuple[YccallEmulator, str]) -> YccallEmulator:
    served[0].reset()
    return served[0]


class Maker:
    """Builds providers on the emulator; records the backoff sleeps instead of sleeping."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sleeps: list[float] = []
        self.made: list[YccallProvider] = []

    def __call__(self, credentials: dict[str, Secret] | None = None, **options: Any) -> YccallProvider:
        profile = ProviderProfile("callcenter", "yccall", self.base_url,
                                  name_prefix=str(options.get("name_prefix", "gitops-")),
                                  credentials_env={"appid": "YCCALL_APPID", "accesskey": "YCCALL_ACCESSKEY"},
                                  options={**OPTIONS, **options})
        # plain-HTTP transport: real loopback sockets, without loading a CA bundle for every provider
        provider = YccallProvider(profile, credentials=CREDS if credentials is None else credentials,
                                  transport=httpx.HTTPTransport(verify=False),
                                  retry=RetryPolicy(attempts=3, backoff=0.01), sleep=self.sleeps.append)
        self.made.append(provider)
        return provider


@pytest.fixture
def make(emu: YccallEmulator, served: tuple[YccallEmulator, str]) -> Iterator[Maker]:
    maker = Maker(served[1])
    yield maker
    for provider in maker.made:
        provider.close()


@pytest.fixture
def yc(make: Maker) -> YccallProvider:
    return make()


def rows_for(phones: list[str], columns: int = 2) -> tuple[ContactRow, ...]:
    return tuple(ContactRow(p, (p, "张先生", "u" + p[-3:], "m1", "c1", "e1")[:columns], "contacts.csv", i + 2)
                 for i, p in enumerate(phones))


def numbers(n: int, start: int = 13_800_000_000) -> list[str]:
    return [str(start + i) for i in range(n)]


def campaign(name: str = "spring", phones: list[str] | None = None, *, columns: tuple[str, ...] = ("phone", "姓名"),
             **kwargs: Any) -> DesiredCampaign:
    nums = phones if phones is not None else numbers(3)
    base = DesiredCampaign(
        name=name, provider="callcenter", provider_type="yccall", mode="task",
        contacts=Contacts(columns, "phone", rows_for(nums, len(columns))),
        schedule=Schedule(),
        vendor=YccallSettings("extension", "8001"),
        mark=Mark(f"campaigns/{name}.yaml", 4),
    )
    return replace(base, **kwargs)


def task_of(emu: YccallEmulator, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = next(t for t in emu.state()["tasks"] if t["taskid"] == task_id)
    return task


# ------------------------------------------------------------------ protocol, identity
def test_is_a_provider_with_the_documented_capabilities(yc: YccallProvider) -> None:
    assert isinstance(yc, Provider)
    caps = yc.capabilities
    assert (caps.direct_callout, caps.add_after_start, caps.remove_contacts, caps.delete_is_end,
            caps.create_with_contacts, caps.windows) == (False, True, True, True, True, False)
    assert (yc.limits.add_batch, yc.limits.create_batch, yc.limits.callout_batch, yc.limits.list_page) == (
        10000, 10000, 0, 100)
    assert yc.task_name("spring", 1) == "gitops-spring" and yc.task_name("spring", 3) == "gitops-spring~3"
    assert yc.custom_task_id("spring", 1) == "gitops-spring" and yc.custom_task_id("spring", 2) == "gitops-spring~2"


def test_long_customtaskid_is_a_stable_digest(make: Maker) -> None:
    yc = make(customtaskid_prefix="team-alpha-outbound-")
    name = "a" * 63
    one, two = yc.custom_task_id(name, 1), yc.custom_task_id(name, 2)
    assert len(one) <= CUSTOMTASKID_MAX and len(two) <= CUSTOMTASKID_MAX and one != two
    assert one.startswith("team-alpha-outbound-aaa") and one == yc.custom_task_id(name, 1)


# ------------------------------------------------------------------ create
def test_create_sends_every_setting(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign(
        columns=("phone", "姓名", "userid", "memberid", "customuuid", "ext"),
        schedule=Schedule(begin=datetime(2030, 3, 1, 9, 0, tzinfo=CST),
                          end=datetime(2030, 3, 1, 2, 0, tzinfo=UTC)),
        recall=Recall(count=2, wait=900, mode="all"),
        vendor=YccallSettings("queue", "queue-1", scale="1:2", scale_mode="manual", concurrency=7,
                              caller_numbers=("02160000001", "02160000002")),
    )
    result = yc.create_task(c, 1, c.contacts.rows)
    assert len(result.task_id) == 20 and result.task_id.isdigit()
    assert result.added is not None and result.added.accepted == 3
    uuids = tuple(YccallProvider.customuuid("spring", r.phone) for r in c.contacts.rows)
    assert result.added.data_ids == uuids and result.added.invalid == ()  # the customuuid of each number
    body = emu.calls_to(CREATE)[0]["body"]
    assert {k: v for k, v in body.items() if k != "telphone"} == {
        "service": CREATE, "assigntype": "2", "assignagent": "queue-1", "taskscale": "1:2", "status": "0",
        "taskname": "gitops-spring", "customtaskid": "gitops-spring", "isscale": "manual", "concurrent": "7",
        "disnumber": "02160000001,02160000002", "scheduledtime": "2030-03-01 09:00:00",
        "pausedtime": "2030-03-01 10:00:00", "is_multi_call": "1", "multi_call_type": "1",
        "multi_call_max_rounds": "2", "multi_call_interval": "900",
    }
    entries = json.loads(body["telphone"])
    # campaignctl's customuuid, not the campaign's own column: it is what the call records carry back
    assert entries[0] == {"phone": "13800000000", "userid": "u000", "memberid": "m1", "customuuid": uuids[0],
                          "ext": "e1"}
    assert len(uuids[0]) == 32 and len(set(uuids)) == 3
    task = task_of(emu, result.task_id)
    assert task["status"] == 1025 and task["numbers"][0]["userid"] == "u000"


def test_create_without_recall_or_options_and_unanswered_recall(yc: YccallProvider, emu: YccallEmulator) -> None:
    yc.create_task(campaign("plain"), 1, campaign("plain").contacts.rows)
    body = emu.calls_to(CREATE)[0]["body"]
    assert body["is_multi_call"] == "0" and "multi_call_type" not in body
    assert not {"scheduledtime", "pausedtime", "disnumber", "concurrent", "isscale"} & set(body)
    assert json.loads(body["telphone"])[0] == {  # only known columns travel
        "phone": "13800000000", "customuuid": YccallProvider.customuuid("plain", "13800000000")}
    c = campaign("again", recall=Recall(count=1, wait=60, mode="unanswered"))
    yc.create_task(c, 2, c.contacts.rows)
    body = emu.calls_to(CREATE)[1]["body"]
    assert (body["multi_call_type"], body["multi_call_max_rounds"]) == ("2", "1")
    assert body["customtaskid"] == "gitops-again~2"


def test_invaliddata_is_mapped_back_to_row_indexes(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign(phones=["13800000001", "12-34", "13800000002", "13800000001"])
    result = yc.create_task(c, 1, c.contacts.rows)
    assert result.added is not None
    assert result.added.accepted == 2 and len(result.added.data_ids) == 2
    assert [i for i, _ in result.added.invalid] == [1, 3]
    assert all(reason for _, reason in result.added.invalid)
    added = yc.add_contacts(result.task_id, c, rows_for(["13800000002", "13800000009", "x"]))
    assert added.accepted == 1 and [i for i, _ in added.invalid] == [0, 2]
    assert yc.count_contacts(result.task_id) == 3


def test_phone_as_number_and_multipart(make: Maker, emu: YccallEmulator) -> None:
    yc = make(phone_as_number=True, body_encoding="multipart")
    c = campaign(phones=["13800000001", "02160000009"])
    result = yc.create_task(c, 1, c.contacts.rows)
    assert result.added is not None and result.added.accepted == 2
    entries = json.loads(emu.calls_to(CREATE)[0]["body"]["telphone"])
    assert [e["phone"] for e in entries] == [13800000001, "02160000009"]  # a leading 0 must survive
    yc.add_contacts(result.task_id, c, rows_for(["13900000001"]))
    assert yc.count_contacts(result.task_id) == 3
    with pytest.raises(ProviderError, match="body_encoding"):
        make(body_encoding="json")


def test_create_refuses_without_rows_or_yccall_block(yc: YccallProvider, emu: YccallEmulator) -> None:
    with pytest.raises(ProviderError, match="at least one number"):
        yc.create_task(campaign(), 1, ())
    with pytest.raises(ProviderError, match="yccall block"):
        yc.create_task(campaign(vendor=None), 1, campaign().contacts.rows)
    assert emu.calls_to(CREATE) == []


def test_business_error_names_profile_service_campaign_and_code(yc: YccallProvider) -> None:
    c = campaign(vendor=YccallSettings("extension", "9999"))
    with pytest.raises(VendorError) as info:
        yc.create_task(c, 1, c.contacts.rows)
    err = info.value
    assert err.vendor_code == "1012" and err.call == CREATE and err.campaign == "spring"
    assert "callcenter" in str(err) and CREATE in str(err) and "9999" in str(err)


# ------------------------------------------------------------------ limits and appends
def test_more_than_10000_numbers_create_then_append_at_the_limit(yc: YccallProvider, emu: YccallEmulator) -> None:
    all_numbers = numbers(20_001)
    c = campaign(phones=all_numbers)
    rows = c.contacts.rows
    created = yc.create_task(c, 1, rows[:10_000])
    assert created.added is not None and created.added.accepted == 10_000
    assert yc.add_contacts(created.task_id, c, rows[10_000:20_000]).accepted == 10_000
    calls_before = len(emu.calls)
    with pytest.raises(ProviderError, match="at most 10000"):
        yc.add_contacts(created.task_id, c, rows[:10_001])
    with pytest.raises(ProviderError, match="at most 10000"):
        yc.create_task(c, 2, rows[:10_001])
    assert len(emu.calls) == calls_before  # refused before sending
    assert yc.add_contacts(created.task_id, c, rows[20_000:]).accepted == 1
    assert yc.count_contacts(created.task_id) == 20_001
    assert len(emu.calls_to(ADD)) == 2 and len(emu.calls_to(CREATE)) == 1
    assert yc.add_contacts(created.task_id, c, ()).accepted == 0
    assert len(emu.calls_to(ADD)) == 2


def test_append_to_an_ended_task_is_a_vendor_error(yc: YccallProvider) -> None:
    c = campaign()
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    yc.delete(task_id)
    with pytest.raises(VendorError) as info:
        yc.add_contacts(task_id, c, rows_for(["13900000000"]))
    assert info.value.vendor_code == "1003" and info.value.campaign == "spring" and info.value.call == ADD


def test_an_append_and_a_start_ask_their_gate_right_before_they_go_out(yc: YccallProvider,
                                                                        emu: YccallEmulator) -> None:
    c = campaign(phones=numbers(2))
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    more = rows_for(["13900000000"])
    with pytest.raises(NotSent) as info:
        yc.add_contacts(task_id, c, more, gate=lambda: "outside calling hours")
    assert info.value.call == ADD and info.value.campaign == "spring"
    with pytest.raises(NotSent):
        yc.start(task_id, gate=lambda: "outside calling hours")
    assert emu.calls_to(ADD) == [] and emu.calls_to("App.Sip_Yccall.TaskSet") == []
    assert yc.count_contacts(task_id) == 2
    assert yc.add_contacts(task_id, c, more, gate=lambda: "").accepted == 1
    yc.start(task_id, gate=lambda: "")
    task = yc.get_task(task_id)
    assert task is not None and task.started


@pytest.mark.parametrize("number_time", ["omit", "begin", "end"])
def test_number_time_says_what_each_numbers_time_carries(make: Maker, emu: YccallEmulator, number_time: str) -> None:
    begin = datetime(2027, 3, 1, 9, tzinfo=timezone(timedelta(hours=8)))
    end = begin + timedelta(days=7)
    c = campaign(phones=numbers(2), schedule=Schedule(begin, end))
    yc = make(number_time=number_time)
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    yc.add_contacts(task_id, c, rows_for(["13900000000"]))
    expected = {"omit": None, "begin": int(begin.timestamp()), "end": int(end.timestamp())}[number_time]
    for call in (CREATE, ADD):
        entries = json.loads(emu.calls_to(call)[-1]["body"]["telphone"])
        assert [e.get("time") for e in entries] == [expected] * len(entries)  # epoch seconds, as documented
    # without the date it would carry: nothing is sent (the vendor's default)
    bare = campaign("bare", phones=numbers(1, start=13_700_000_000))
    make(number_time=number_time).create_task(bare, 1, bare.contacts.rows)
    assert [e.get("time") for e in json.loads(emu.calls_to(CREATE)[-1]["body"]["telphone"])] == [None]


def test_remove_contacts(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign(phones=numbers(5))
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    yc.remove_contacts(task_id, c, ["13800000001", "13800000003"])
    assert yc.count_contacts(task_id) == 3
    assert [n["telphone"] for n in task_of(emu, task_id)["numbers"]] == ["13800000000", "13800000002", "13800000004"]
    assert emu.calls_to("App.Sip_Yccall.taskDelPhone")[0]["body"]["telphone"] == "13800000001,13800000003"
    yc.remove_contacts(task_id, c, [])
    assert len(emu.calls_to("App.Sip_Yccall.taskDelPhone")) == 1


# ------------------------------------------------------------------ run state, observe
def test_start_pause_delete_and_observed_phases(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign(phones=numbers(500))
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    task = yc.get_task(task_id)
    assert task is not None and task.phase is Phase.NOT_STARTED and not task.started
    assert (task.status, task.custom_id, task.name, task.contact_count, task.called) == (
        1025, "gitops-spring", "gitops-spring", 500, 0)
    assert task.created_at is not None and abs(task.created_at - emu.clock.now_ms()) < 5000
    yc.start(task_id)
    emu.advance(120)
    task = yc.get_task(task_id)
    assert task is not None and task.phase is Phase.RUNNING and task.started
    assert task.called is not None and 0 < task.called < 500 and task.answered is not None
    yc.pause(task_id)
    yc.pause(task_id)  # idempotent
    task = yc.get_task(task_id)
    assert task is not None and task.phase is Phase.PAUSED and task.started
    yc.delete(task_id)
    task = yc.get_task(task_id)
    assert task is not None and task.phase is Phase.FINISHED
    yc.delete(task_id)  # already ended: still success
    with pytest.raises(VendorError) as info:
        yc.start(task_id)
    assert info.value.vendor_code == "1003"
    yc.delete("00000000000000000000")  # 1024, no such task: nothing left to end
    emu.faults.add("App.Sip_Yccall.TaskSet:error:1002")
    with pytest.raises(VendorError):  # any other refusal is not taken as done
        yc.delete("00000000000000000000")
    assert yc.get_task("00000000000000000000") is None


def test_dialing_to_the_end_is_finished(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign()
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    yc.start(task_id)
    emu.advance(600)
    task = yc.get_task(task_id)
    assert task is not None and task.phase is Phase.FINISHED and task.called == 3


def test_list_tasks_paginates_and_keeps_only_owned_tasks(make: Maker, emu: YccallEmulator) -> None:
    yc = make(page_size=2)
    assert yc.limits.list_page == 2
    ids = []
    for i in range(5):
        c = campaign(f"c{i}")
        ids.append(yc.create_task(c, 1, c.contacts.rows).task_id)
    other = make(customtaskid_prefix="other-", name_prefix="other-")
    c = campaign("foreign")
    foreign = other.create_task(c, 1, c.contacts.rows).task_id
    # a task without customtaskid but with our name prefix (made by hand): owned through its name
    tel = json.dumps([{"phone": "13800000000"}])
    handmade = _raw_create(emu, taskname="gitops-handmade", telphone=tel)
    listed = yc.list_tasks()
    assert {t.task_id for t in listed} == {*ids, handmade}
    assert foreign not in {t.task_id for t in listed}
    assert len(emu.calls_to(LIST)) == 4  # 7 tasks, 2 per page
    assert all(yc.owns(t) for t in listed)
    assert next(t for t in listed if t.task_id == handmade).custom_id is None


def _raw_create(emu: YccallEmulator, **fields: str) -> str:
    """Create a task the way another tool would (straight through the emulator's Python side)."""
    from reconciler.emulator.server import EmulatorRequest

    login = emu.handle(EmulatorRequest("POST", "/", {}, {"content-type": "application/x-www-form-urlencoded"},
                                       b"service=App.Sip_Auth.Login&appid=demo-appid&accesskey=demo-accesskey"))
    token = json.loads(login.body)["data"]["result"]["token"]
    from urllib.parse import urlencode

    form = {"service": CREATE, "token": token, "assigntype": "1", "assignagent": "8001", "taskscale": "1:1",
            **fields}
    answer = emu.handle(EmulatorRequest("POST", "/", {}, {"content-type": "application/x-www-form-urlencoded"},
                                        urlencode(form).encode()))
    task_id: str = json.loads(answer.body)["data"]["result"]["taskid"]
    return task_id


def test_find_task_is_exact_and_newest_first(yc: YccallProvider, emu: YccallEmulator) -> None:
    assert yc.find_task("spring", 1) is None
    c = campaign()
    first = yc.create_task(c, 1, c.contacts.rows).task_id
    c2 = campaign("spring-2")
    yc.create_task(c2, 1, c2.contacts.rows)
    wave2 = yc.create_task(c, 2, c.contacts.rows).task_id
    found = yc.find_task("spring", 1)
    assert found is not None and found.task_id == first
    found2 = yc.find_task("spring", 2)
    assert found2 is not None and found2.task_id == wave2
    emu.advance(5)
    tel = json.dumps([{"phone": "13800000000"}])
    newer = _raw_create(emu, customtaskid="gitops-spring", taskname="gitops-spring", telphone=tel)
    found = yc.find_task("spring", 1)
    assert found is not None and found.task_id == newer  # duplicates are accepted by the vendor: newest wins
    assert emu.calls_to(LIST)[0]["body"]["customtaskid"] == "gitops-spring"


def test_unknown_status_code_is_a_clear_error(make: Maker) -> None:
    yc = make(status_map={1025: "not-started", 1026: "running", 1027: "paused"})
    c = campaign()
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    yc.delete(task_id)
    with pytest.raises(TransportError, match="status_map") as info:
        yc.list_tasks()
    assert "1028" in str(info.value)


# ------------------------------------------------------------------ token
def test_token_is_cached_and_refreshed_once_after_expiry(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign()
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    yc.count_contacts(task_id)
    assert yc.logins == 1
    emu.advance(12 * 3600 + 1)  # the 12 h token has expired mid-run
    assert yc.add_contacts(task_id, c, rows_for(["13900000001"])).accepted == 1
    assert yc.logins == 2
    assert [x["ret"] for x in emu.calls_to(ADD)] == [600, 200]
    assert yc.count_contacts(task_id) == 4
    emu.expire_tokens()
    c2 = campaign("autumn")
    yc.create_task(c2, 1, c2.contacts.rows)
    assert yc.logins == 3
    assert [x["ret"] for x in emu.calls_to(CREATE)] == [200, 600, 200]
    assert len(emu.state()["tasks"]) == 2  # no duplicate task
    assert len(emu.calls_to(LOGIN)) == 3


def test_token_refused_again_after_relogin_is_an_auth_error(yc: YccallProvider, emu: YccallEmulator) -> None:
    emu.faults.add(f"{LIST}:expire-token*inf")
    with pytest.raises(AuthError) as info:
        yc.list_tasks()
    assert info.value.vendor_code == "600" and info.value.call == LIST
    assert len(emu.calls_to(LIST)) == 2 and yc.logins == 2


def test_bad_or_missing_credentials(make: Maker, emu: YccallEmulator) -> None:
    yc = make({"appid": Secret("demo-appid"), "accesskey": Secret("wrong-key-123")})
    with pytest.raises(AuthError) as info:
        yc.list_tasks()
    assert "wrong-key-123" not in str(info.value) and info.value.call == LOGIN
    yc = make({"appid": Secret("nobody"), "accesskey": Secret("demo-accesskey")})
    with pytest.raises(AuthError) as info:
        yc.list_tasks()
    assert info.value.vendor_code == "601"
    with pytest.raises(AuthError, match="YCCALL_ACCESSKEY"):
        make({"appid": Secret("demo-appid")})


# ------------------------------------------------------------------ lost answers, faults
def test_lost_create_answer_is_unknown_then_found_by_customtaskid(yc: YccallProvider, emu: YccallEmulator) -> None:
    emu.faults.add(f"{CREATE}:drop")
    c = campaign()
    with pytest.raises(OutcomeUnknown) as info:
        yc.create_task(c, 1, c.contacts.rows)
    assert info.value.campaign == "spring" and info.value.call == CREATE
    assert len(emu.calls_to(CREATE)) == 1  # never re-sent
    found = yc.find_task("spring", 1)
    assert found is not None and found.custom_id == "gitops-spring"
    assert yc.count_contacts(found.task_id) == 3
    assert len(emu.state()["tasks"]) == 1


def test_create_answers_that_may_hide_an_applied_change(yc: YccallProvider, emu: YccallEmulator) -> None:
    c = campaign()
    emu.faults.add(f"{CREATE}:status:503")
    with pytest.raises(OutcomeUnknown):
        yc.create_task(c, 1, c.contacts.rows)
    assert yc.find_task("spring", 1) is None  # the emulator did not act on a 503
    emu.faults.add(f"{CREATE}:malformed:truncated")
    with pytest.raises(OutcomeUnknown):
        yc.create_task(c, 1, c.contacts.rows)
    assert yc.find_task("spring", 1) is not None  # ...but did on a cut answer
    emu.faults.add(f"{ADD}:error:500")
    task = yc.find_task("spring", 1)
    assert task is not None
    with pytest.raises(OutcomeUnknown, match="500"):
        yc.add_contacts(task.task_id, c, rows_for(["13900000001"]))
    assert len(emu.calls_to(CREATE)) == 2 and len(emu.calls_to(ADD)) == 1


def test_refused_and_idempotent_calls_are_retried(yc: YccallProvider, emu: YccallEmulator, make: Maker) -> None:
    c = campaign()
    emu.faults.add(f"{CREATE}:429:0")
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id  # 429 = refused: safe to resend
    assert len(emu.calls_to(CREATE)) == 2 and len(emu.state()["tasks"]) == 1
    emu.faults.add("App.Sip_Yccall.TaskSet:status:503*2")
    yc.start(task_id)
    assert [x["status"] for x in emu.calls_to("App.Sip_Yccall.TaskSet")] == [503, 503, 200]
    assert len(make.sleeps) >= 2
    emu.faults.add(f"{LIST}:malformed*inf")
    with pytest.raises(TransportError):
        yc.list_tasks()
    emu.faults.clear()
    emu.faults.add(f"{LIST}:error:1003")
    with pytest.raises(VendorError) as info:
        yc.list_tasks()
    assert info.value.vendor_code == "1003"


# ------------------------------------------------------------------ check
def test_check_references(yc: YccallProvider, emu: YccallEmulator) -> None:
    good = campaign("good", vendor=YccallSettings("extension", "8001,8002", caller_numbers=("02160000001",)))
    bad_ext = campaign("badext", vendor=YccallSettings("extension", "8009"))
    bad_queue = campaign("badq", vendor=YccallSettings("queue", "queue-9", caller_numbers=("999",)))
    group = campaign("grp", vendor=YccallSettings("group", "anything"))
    other = replace(campaign("other", vendor=YccallSettings("extension", "1")), provider="elsewhere")
    problems = yc.check([good, bad_ext, bad_queue, group, other])
    assert [(p.file, p.field, p.severity) for p in problems] == [
        ("campaigns/badext.yaml", "yccall.assign.agent", "error"),
        ("campaigns/badq.yaml", "yccall.assign.agent", "error"),
        ("campaigns/badq.yaml", "yccall.caller_numbers", "error"),
    ]
    assert "8009" in problems[0].message and "queue-9" in problems[1].message and "999" in problems[2].message
    assert all(p.line == 4 for p in problems)
    lookups = [x["service"] for x in emu.calls if x["service"].startswith("App.Sip_") and "Auth" not in x["service"]]
    assert sorted(lookups) == ["App.Sip_Disnum.GetDisnumberInfo", "App.Sip_Queue.GetQueueList",
                               "App.Sip_Sipnum.GetSipnumberInfo"]  # each asked once


def test_check_can_be_turned_off_and_tolerates_missing_services(make: Maker, emu: YccallEmulator) -> None:
    off = make(check_references=False)
    assert off.check([campaign(vendor=YccallSettings("extension", "8009"))]) == []
    assert emu.calls == []
    yc = make()
    emu.faults.add("App.Sip_Sipnum.GetSipnumberInfo:error:400")
    problems = yc.check([campaign(vendor=YccallSettings("extension", "8001"))])
    assert [(p.severity, p.field) for p in problems] == [("warning", "yccall.assign.agent")]
    assert "check_references" in problems[0].message
    unknown_type = make(assign_types={"extension": 1})
    problems = unknown_type.check([campaign(vendor=YccallSettings("group", "sales"))])
    assert [p.field for p in problems] == ["yccall.assign.type"]


def test_callout_is_not_supported(yc: YccallProvider) -> None:
    with pytest.raises(ProviderError, match="direct"):
        yc.callout(campaign(), campaign().contacts.rows)


# ------------------------------------------------------------------ secrets
def test_no_secret_in_any_error_or_log(yc: YccallProvider, emu: YccallEmulator,
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = campaign()
    errors: list[str] = []
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    tokens = {yc.session.token(LIST)}
    emu.faults.add(f"{CREATE}:drop,{ADD}:status:502,{LIST}:status:500*inf,App.Sip_Yccall.TaskSet:error:1002")
    for action in (lambda: yc.create_task(c, 2, c.contacts.rows),
                   lambda: yc.add_contacts(task_id, c, rows_for(["13900000001"])),
                   yc.list_tasks, lambda: yc.start(task_id)):
        with pytest.raises(ProviderError) as info:
            action()
        errors.append(str(info.value))
        errors.append(repr(info.value))
    emu.expire_tokens()
    emu.faults.clear()
    yc.count_contacts(task_id)
    tokens.add(yc.session.token(LIST))
    assert None not in tokens and len(tokens) == 2
    text = "\n".join([*errors, caplog.text, repr(yc)])
    for secret in ("demo-accesskey", *[t for t in tokens if t]):
        assert secret not in text
    assert "attempt" in caplog.text  # the transport did log


# ------------------------------------------------------------------ a less capable deployment
class BareListing(YccallEmulator):
    """A deployment whose TaskList ignores the taskid/customtaskid filters and omits customtaskid in rows."""

    def _task_list(self, form: Any, now: float) -> tuple[str, Any]:
        trimmed = {k: v for k, v in form.items() if k not in ("taskid", "customtaskid")}
        desc, result = super()._task_list(trimmed, now)
        for row in result["task"]:
            row.pop("customtaskid", None)
            row["vendor_extra"] = {"nested": True}  # unknown fields are tolerated
        return desc, result


def test_tolerates_a_listing_without_filters_or_customtaskid() -> None:
    emu = BareListing()
    with EmulatorServer(emu) as server:
        maker = Maker(server.base_url)
        yc = maker(page_size=2)
        try:
            ids = {}
            for name in ("a", "b", "c"):
                c = campaign(name)
                ids[name] = yc.create_task(c, 1, c.contacts.rows).task_id
            other = maker(customtaskid_prefix="x-", name_prefix="x-")
            other.create_task(campaign("d"), 1, campaign("d").contacts.rows)
            found = yc.find_task("b", 1)
            assert found is not None and found.task_id == ids["b"] and found.custom_id is None
            assert yc.find_task("b", 2) is None
            task = yc.get_task(ids["a"])  # the oldest: on the last page
            assert task is not None and task.task_id == ids["a"]
            assert yc.get_task("00000000000000000000") is None
            assert {t.task_id for t in yc.list_tasks()} == set(ids.values())  # owned by name prefix
        finally:
            for provider in maker.made:
                provider.close()


def test_build_provider_reads_credentials_from_env(served: tuple[YccallEmulator, str], emu: YccallEmulator) -> None:
    from reconciler.providers import build_provider

    profile = ProviderProfile("callcenter", "yccall", served[1], credentials_env={
        "appid": "YCCALL_APPID", "accesskey": "YCCALL_ACCESSKEY"}, options={**OPTIONS, "page_size": 7})
    env = {"YCCALL_APPID": "demo-appid", "YCCALL_ACCESSKEY": "demo-accesskey"}
    provider = build_provider(profile, env, transport=httpx.HTTPTransport(verify=False))
    try:
        assert isinstance(provider, YccallProvider) and provider.limits.list_page == 7
        assert provider.list_tasks() == []
        assert emu.calls_to(LOGIN)[0]["body"] == {"service": LOGIN, "appid": "demo-appid"}  # accesskey not logged
    finally:
        provider.close()
    with pytest.raises(AuthError, match="YCCALL_ACCESSKEY") as info:
        build_provider(profile, {"YCCALL_APPID": "demo-appid"})
    assert "demo-appid" not in str(info.value)
