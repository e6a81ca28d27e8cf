"""Builders of model, observed and recorded values for engine tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from reconciler.engine.inputs import Observed, Recorded, traits_for
from reconciler.model import (
    ContactRow,
    Contacts,
    DesiredCampaign,
    DesiredState,
    Lifecycle,
    Mark,
    Project,
    ProviderProfile,
    Recall,
    Schedule,
    StateSettings,
    TimeWindow,
)
from reconciler.policy import Policy
from reconciler.providers.base import ObservedTask, Phase
from reconciler.state.base import ContactRecord, ContactStatus, JournalEntry, TaskRecord
from reconciler.vendors.yccall import YccallSettings

CST = timezone(timedelta(hours=8))
PREFIX = "gitops-"

PROFILES = {
    "iflytek": ProviderProfile("iflytek", "xfyeta", "http://127.0.0.1:1", name_prefix=PREFIX),
    "callcenter": ProviderProfile("callcenter", "yccall", "http://127.0.0.1:2", name_prefix=PREFIX),
}
#: What the diff knows of each profile, from the vendor specs (capabilities, limits, naming).
TRAITS = {name: traits_for(profile) for name, profile in PROFILES.items()}


def task_name(campaign: str, wave: int) -> str:
    return TRAITS["iflytek"].task_name(campaign, wave)


def phones(n: int, start: int = 0) -> list[str]:
    return [f"1990000{i:04d}" for i in range(start, start + n)]


def rows(numbers: Sequence[str], name: str = "张先生") -> tuple[ContactRow, ...]:
    return tuple(ContactRow(p, (p, name), "contacts.csv", i + 2) for i, p in enumerate(numbers))


def campaign(name: str = "spring", *, n: int = 3, numbers: Sequence[str] | None = None, provider: str = "iflytek",
             state: str = "running", mode: str = "task", robot: str = "719", allow_replace: bool = False,
             prevent_destroy: bool = False, after_start: str = "new_wave", recall: int = 0) -> DesiredCampaign:
    nums = list(numbers) if numbers is not None else phones(n)
    yc = provider == "callcenter"
    return DesiredCampaign(
        name=name,
        provider=provider,
        provider_type="yccall" if yc else "xfyeta",  # type: ignore[arg-type]
        mode=mode,  # type: ignore[arg-type]
        contacts=Contacts(("客户手机号码", "姓名"), "客户手机号码", rows(nums), after_start),  # type: ignore[arg-type]
        robot=None if yc else robot,
        lines=() if yc else ("69101338",),
        schedule=Schedule() if mode == "direct" else Schedule(  # direct: no schedule unless a test gives one
            begin=datetime(2027, 3, 1, 9, 0, tzinfo=CST),
            windows=() if yc else (TimeWindow(time(9), time(12)),),
        ),
        recall=Recall(count=recall, wait=600),
        state=state,  # type: ignore[arg-type]
        lifecycle=Lifecycle(prevent_destroy=prevent_destroy, allow_replace=allow_replace),
        vendor=YccallSettings("extension", "8001") if yc else None,
        mark=Mark(f"campaigns/{name}.yaml", 3),
    )


def desired(*campaigns: DesiredCampaign, prune: bool = False, policy: Policy | None = None) -> DesiredState:
    project = Project(Path("."), Path("campaignctl.yaml"), 1, "Asia/Shanghai", PROFILES,
                      StateSettings("memory"), prune, policy=policy)
    return DesiredState(project, tuple(campaigns))


def observed_task(task_id: str, name: str, phase: Phase, *, profile: str = "iflytek", started: bool | None = None,
                  count: int | None = None, deleted: bool = False) -> ObservedTask:
    return ObservedTask(profile=profile, task_id=task_id, name=name, phase=phase, status=0,
                        started=phase not in (Phase.NOT_STARTED,) if started is None else started,
                        deleted=deleted, contact_count=count)


def observed(*tasks: ObservedTask, errors: dict[str, str] | None = None) -> Observed:
    by: dict[str, list[ObservedTask]] = {"iflytek": [], "callcenter": []}
    for t in tasks:
        by.setdefault(t.profile, []).append(t)
    return Observed({k: tuple(v) for k, v in by.items()}, errors or {})


def recorded(*, tasks: Sequence[TaskRecord] = (), contacts: Sequence[ContactRecord] = (),
             pending: Sequence[JournalEntry] = (), optouts: Sequence[str] = ()) -> Recorded:
    t: dict[str, list[TaskRecord]] = {}
    for r in tasks:
        t.setdefault(r.campaign, []).append(r)
    c: dict[str, list[ContactRecord]] = {}
    for r in contacts:
        c.setdefault(r.campaign, []).append(r)
    return Recorded("lineage-1", 7, {}, {k: tuple(v) for k, v in t.items()}, {k: tuple(v) for k, v in c.items()},
                    tuple(pending), optouts=frozenset(optouts))


def task_record(c: DesiredCampaign, task_id: str, *, wave: int = 1, started: bool = False,
                fingerprint: str | None = None, deleted: bool = False) -> TaskRecord:
    return TaskRecord(c.name, wave, c.provider, task_id, task_name(c.name, wave),
                      c.settings_fingerprint() if fingerprint is None else fingerprint, started, deleted)


def sent(c: DesiredCampaign, task_id: str, numbers: Sequence[str], *, wave: int = 1,
         status: ContactStatus = ContactStatus.SENT, at: str = "") -> list[ContactRecord]:
    return [ContactRecord(c.name, p, rows([p])[0].fingerprint, task_id, wave, None, status, at) for p in numbers]


def kinds(plan: Any) -> list[tuple[str, str, int]]:
    return [(a.kind.value, a.campaign, len(a.phones)) for a in plan.actions]
