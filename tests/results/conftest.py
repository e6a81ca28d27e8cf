"""A project with one xfyeta and one yccall campaign, its state filled as an apply would, and a receiver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.commands.results import receiver
from reconciler.results.receiver import ReceiverServer
from reconciler.state.base import CampaignRecord, ContactRecord, ContactStatus, TaskRecord
from reconciler.state.sqlite import SqliteStore
from tests.e2e.conftest import campaigns, phones, project, write_csv, xf_task, yc_task

REPO = Path(__file__).resolve().parents[2]
XF_PHONES = phones(4)
YC_PHONES = phones(3, start=100)


@dataclass
class Served:
    directory: Path
    state: Path
    server: ReceiverServer
    client: httpx.Client

    def push(self, profile: str, module: str, body: Any, **kw: Any) -> httpx.Response:
        if isinstance(body, bytes | str):
            return self.client.post(f"/push/{profile}/{module}", content=body, **kw)
        return self.client.post(f"/push/{profile}/{module}", json=body, **kw)


def make_project(tmp_path: Path, extra: str = "") -> Path:
    directory = project(tmp_path, extra=extra)
    write_csv(directory / "promo.csv", XF_PHONES)
    write_csv(directory / "cc.csv", YC_PHONES, columns=("phone",))
    campaigns(directory, xf_task("promo", "../promo.csv"), yc_task("cc", "../cc.csv"))
    with SqliteStore(tmp_path / "state.db") as store:
        store.put_campaign(CampaignRecord("promo", "iflytek", "task", "xfyeta"))
        store.put_campaign(CampaignRecord("cc", "callcenter", "task", "yccall"))
        store.put_task(TaskRecord("promo", 1, "iflytek", "1001", "gitops-promo", "s", started=True))
        store.put_task(TaskRecord("cc", 1, "callcenter", "T-CC", "gitops-cc", "s", started=True))
        store.put_contacts([ContactRecord("promo", p, "fp", "1001", 1, str(100001 + i), ContactStatus.SENT)
                            for i, p in enumerate(XF_PHONES)])
        store.put_contacts([ContactRecord("cc", p, "fp", "T-CC", 1, f"cu-{i}", ContactStatus.SENT)
                            for i, p in enumerate(YC_PHONES)])
    return directory


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    directory = make_project(tmp_path)
    with receiver(directory, "127.0.0.1:0") as server:
        server.start()
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            yield Served(directory, tmp_path / "state.db", server, client)
        server.stop()


def call_record(uuid: str, data_id: str | None, callee: str, *, outbound: bool = True, answered: bool = True,
                result: str = "0", task_id: str = "1001", tries: int = 0) -> dict[str, Any]:
    """A receiveCallRecord body as the vendor document shows it (basic, or outbound with task_row_*)."""
    body: dict[str, Any] = {
        "business_id": "2745", "app_id": "test", "robot_id": "719", "call_uuid": uuid,
        "caller": "055196866001", "callee": callee, "direction": 2,
        "time_answer": 1527737763429 if answered else 0, "time_hangup": 1527737784829,
        "duration_ring": 7, "duration_call": 28 if answered else 0,
    }
    if outbound:
        body.update({
            "task_id": task_id, "task_data_id": data_id, "time_dial": 1527737756729 + tries,
            "time_ring": 1527737757449, "task_result": result,
            "task_result_desc": "成功" if result == "0" else "用户未接",
            "task_tries": tries, "task_row_index": 3, "task_row_head": ["客户手机号码", "姓名"],
            "task_row_value": [callee, "客户"],
        })
    return body
