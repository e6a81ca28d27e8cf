"""The yccall client and emulator against the vendor documents (providers/yccall.md sources, see NOTES.md).

An unknown taskid is ``errors.code`` 1024 ("task does not exist"): lookups answer None and an end
(TaskSet 3) of it is done; 1010 (extension changed) means "log in again"; Logout takes only the token;
the documented TaskList rows carry no ``customtaskid``, ``total``, ``called`` or ``answered``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.emulator.server import EmulatorServer
from reconciler.emulator.yccall import YccallConfig, YccallEmulator
from reconciler.errors import AuthError, VendorError
from reconciler.model import ContactRow, Contacts, DesiredCampaign, Mark, ProviderProfile, Schedule, Secret
from reconciler.providers.base import Phase
from reconciler.providers.http import RetryPolicy
from reconciler.providers.yccall import YccallProvider
from reconciler.vendors.yccall import YccallSettings

LIST, LOGIN, SET, INFO = ("App.Sip_Yccall.TaskList", "App.Sip_Auth.Login", "App.Sip_Yccall.TaskSet",
                          "App.Sip_Yccall.TaskInfo")
CREDS = {"appid": Secret("demo-appid"), "accesskey": Secret("demo-accesskey")}
DOCUMENTED_ROW = {"taskid", "taskname", "taskassign", "starttime", "createtime", "taskscale", "nowscale",
                  "disnumber", "status"}


def campaign(name: str = "spring", n: int = 3) -> DesiredCampaign:
    rows = tuple(ContactRow(str(13_800_000_000 + i), (str(13_800_000_000 + i),), "c.csv", i + 2) for i in range(n))
    return DesiredCampaign(name=name, provider="callcenter", provider_type="yccall", mode="task",
                           contacts=Contacts(("phone",), "phone", rows), schedule=Schedule(),
                           vendor=YccallSettings("extension", "8001"), mark=Mark(f"campaigns/{name}.yaml", 3))


def provider(base_url: str, transport: httpx.BaseTransport | None = None) -> YccallProvider:
    profile = ProviderProfile("callcenter", "yccall", base_url,
                              credentials_env={"appid": "YCCALL_APPID", "accesskey": "YCCALL_ACCESSKEY"})
    return YccallProvider(profile, credentials=CREDS, transport=transport or httpx.HTTPTransport(verify=False),
                          retry=RetryPolicy(attempts=2, backoff=0.0), sleep=lambda _s: None)


@pytest.fixture(params=["extended", "documented"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[YccallEmulator, YccallProvider]]:
    emu = YccallEmulator(YccallConfig(tasklist_rows=request.param))
    with EmulatorServer(emu) as server:
        yc = provider(server.base_url)
        try:
            yield emu, yc
        finally:
            yc.close()


# -- the emulator ----------------------------------------------------------------------------------


def test_emulator_unknown_task_is_1024_and_logout_takes_the_token() -> None:
    emu = YccallEmulator()
    with EmulatorServer(emu) as server, httpx.Client(base_url=server.base_url) as client:
        def call(service: str, **fields: str) -> dict[str, Any]:
            body: dict[str, Any] = client.post("/", data={"service": service, **fields}).json()
            return body

        token = call(LOGIN, appid="demo-appid", accesskey="demo-accesskey")["data"]["result"]["token"]
        for service, fields in ((SET, {"taskstatus": "3"}), (INFO, {}), ("App.Sip_Yccall.TaskAdd",
                                 {"telphone": json.dumps([{"phone": "13800000001"}])}),
                                ("App.Sip_Yccall.taskDelPhone", {"telphone": "13800000001"})):
            answer = call(service, token=token, taskid="20200212163504393460", **fields)
            assert answer["data"]["status"] == 1 and answer["data"]["errors"]["code"] == "1024", (service, answer)
        assert call(LIST, token=token, taskid="20200212163504393460")["data"]["result"]["task"] == []
        assert call("App.Sip_Auth.Logout", token=token)["data"]["status"] == 0  # the token alone
        assert call(LIST, token=token)["ret"] == 600


def test_emulator_documented_tasklist_rows_omit_the_invented_fields() -> None:
    emu = YccallEmulator(YccallConfig(tasklist_rows="documented"))
    with EmulatorServer(emu) as server:
        yc = provider(server.base_url)
        try:
            task_id = yc.create_task(campaign(), 1, campaign().contacts.rows).task_id
            with httpx.Client(base_url=server.base_url) as client:
                token = yc.session.token(LIST)
                rows = client.post("/", data={"service": LIST, "token": token}).json()["data"]["result"]["task"]
        finally:
            yc.close()
    assert [r["taskid"] for r in rows] == [task_id] and set(rows[0]) == DOCUMENTED_ROW
    assert emu.state()["tasks"][0]["total"] == 3  # the control API still shows everything


# -- the client, with rows as documented and as extended --------------------------------------------


def test_create_list_find_and_count_work_without_the_invented_fields(
        served: tuple[YccallEmulator, YccallProvider]) -> None:
    _, yc = served
    c = campaign()
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    (listed,) = yc.list_tasks()
    assert listed.task_id == task_id and listed.name == "gitops-spring" and yc.owns(listed)
    assert listed.phase is Phase.NOT_STARTED and not listed.started
    found = yc.find_task("spring", 1)
    assert found is not None and found.task_id == task_id and yc.find_task("spring", 2) is None
    assert yc.count_contacts(task_id) == 3
    yc.start(task_id)
    got = yc.get_task(task_id)
    assert got is not None and got.phase is Phase.RUNNING and got.started


def test_unknown_task_is_absent_for_lookups_and_done_for_delete(served: tuple[YccallEmulator, YccallProvider]) -> None:
    _, yc = served
    assert yc.get_task("20200212163504393460") is None
    yc.delete("20200212163504393460")  # TaskSet 3 answered 1024: nothing left to end
    with pytest.raises(VendorError) as info:
        yc.count_contacts("20200212163504393460")
    assert info.value.vendor_code == "1024"
    with pytest.raises(VendorError):
        yc.start("20200212163504393460")


def test_extension_changed_1010_logs_in_again_and_resends_once(served: tuple[YccallEmulator, YccallProvider]) -> None:
    emu, yc = served
    assert yc.list_tasks() == []
    emu.faults.add(f"{LIST}:error:1010")
    assert yc.list_tasks() == []
    assert [c["service"] for c in emu.calls] == [LOGIN, LIST, LIST, LOGIN, LIST]
    assert yc.logins == 2
    emu.faults.add(f"{LIST}:error:1010*2")
    with pytest.raises(AuthError) as info:
        yc.list_tasks()
    assert info.value.vendor_code == "1010" and yc.logins == 3


def test_find_task_falls_back_to_the_name_when_customtaskid_finds_nothing() -> None:
    """A deployment that does not keep customtaskid: the filter matches nothing, the name still does."""
    row = {"taskid": "20200212163504393460", "taskname": "gitops-spring", "taskassign": "8001",
           "starttime": "", "createtime": "2027-03-01 08:00:00", "taskscale": "1:1", "nowscale": "1:1",
           "disnumber": "", "status": 1025}
    seen: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        seen.append(form)
        if form["service"] == LOGIN:
            return httpx.Response(200, json={"ret": 200, "msg": "", "data": {"status": 0, "result": {"token": "t1"}}})
        rows = [row] if form.get("taskname") == "gitops-spring" else []
        return httpx.Response(200, json={"ret": 200, "msg": "", "data": {"status": 0, "result": {
            "totalitems": len(rows), "currentpage": 1, "itemsperpage": 100, "task": rows}}})

    yc = provider("http://yccall.invalid", httpx.MockTransport(handle))
    try:
        found = yc.find_task("spring", 1)
    finally:
        yc.close()
    assert found is not None and found.task_id == row["taskid"] and found.contact_count is None
    lists = [f for f in seen if f["service"] == LIST]
    assert [("customtaskid" in f, f.get("taskname")) for f in lists] == [(True, None), (False, "gitops-spring")]


def test_an_extension_change_answers_1010_and_the_client_logs_in_again(
        served: tuple[YccallEmulator, YccallProvider]) -> None:
    emu, yc = served
    c = campaign()
    task_id = yc.create_task(c, 1, c.contacts.rows).task_id
    emu.change_extension()
    yc.start(task_id)  # refused with 1010, logged in again, sent once more
    assert len(emu.calls_to(SET)) == 2 and len(emu.calls_to(LOGIN)) == 2 and yc.logins == 2
    assert emu.state()["tasks"][0]["status"] == 1026
