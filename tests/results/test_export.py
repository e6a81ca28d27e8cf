"""Export streams: results are read a chunk of rows at a time, rows written as they come."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from reconciler.model import ContactRow, Contacts, DesiredCampaign
from reconciler.results.export import OUTCOME_COLUMNS, export
from reconciler.results.status import CHUNK
from reconciler.state.base import CampaignRecord, ContactRecord, ContactStatus, ResultRecord, TaskRecord
from reconciler.state.memory import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    def results(self, campaign: str | None = None, phones: Sequence[str] | None = None) -> list[ResultRecord]:
        self.reads.append(len(phones or ()))
        return super().results(campaign, phones)


def test_export_reads_results_per_chunk_and_keeps_file_order() -> None:
    rows = tuple(ContactRow(f"138{i:08d}", (f"138{i:08d}", f"n{i}"), "f.csv", i + 2) for i in range(2 * CHUNK + 7))
    campaign = DesiredCampaign("big", "xf", "xfyeta", "task", Contacts(("phone", "name"), "phone", rows))
    store = CountingStore()
    store.put_campaign(CampaignRecord("big", "xf", "task", "xfyeta"))
    store.put_task(TaskRecord("big", 1, "xf", "t1", "gitops-big", "s"))
    store.put_contacts([ContactRecord("big", r.phone, "fp", "t1", 1, f"d{i}", ContactStatus.SENT)
                        for i, r in enumerate(rows)])
    last = rows[-1].phone
    store.put_results([ResultRecord("xf", "receiveCallRecord", "u#outbound", "u", "t1", f"d{len(rows) - 1}", last,
                                    {"call_uuid": "u", "task_result": "5", "time_answer": 0, "task_tries": 1})])
    out = io.StringIO()
    assert export(campaign, store, out, "json") == len(rows)
    assert store.reads == [CHUNK, CHUNK, 7]
    items: list[dict[str, Any]] = json.loads(out.getvalue())
    assert [i["phone"] for i in items] == [r.phone for r in rows]
    assert list(items[-1])[2:] == list(OUTCOME_COLUMNS)
    assert (items[-1]["result_code"], items[-1]["result"], items[-1]["answered"], items[-1]["tries"]) == (
        "5", "用户正忙", False, 2)
    assert (items[0]["answered"], items[0]["tries"], items[0]["result_code"]) == (None, None, "")
