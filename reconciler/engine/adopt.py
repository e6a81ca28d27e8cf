"""Adopt remote tasks into the state: `import` and `state rebuild`.

The platforms report a task's settings only in part and never which numbers
a task holds (xfyeta reports a count). So adoption errs on the side of
never dialing twice: the campaign's current contacts are recorded as sent
to the adopted task, and direct-mode contacts as ``unknown`` (never dialed
again until ``state resolve`` settles them). Every assumption is returned
as a note for the user.
"""

from __future__ import annotations

from reconciler.engine.apply import now_iso, retire_wave
from reconciler.engine.diff import wave_of
from reconciler.model import DesiredCampaign
from reconciler.providers.base import ObservedTask, Phase, Provider
from reconciler.state.base import CampaignRecord, ContactRecord, ContactStatus, StateStore, TaskRecord

__all__ = ["adopt_direct", "adopt_task"]


def adopt_task(store: StateStore, provider: Provider, c: DesiredCampaign, task: ObservedTask) -> list[str]:
    notes: list[str] = []
    wave = wave_of(task.name, provider.task_name(c.name, 1))
    if wave is None:
        wave = 1
        notes.append(f"{c.name}: task {task.task_id} is named {task.name!r}, not {provider.task_name(c.name, 1)!r}; "
                     "adopted as wave 1 (campaignctl will find it by id)")
    store.put_campaign(CampaignRecord(c.name, c.provider, c.mode, c.provider_type))
    retire_wave(store, c.name, wave, keep=task.task_id)
    store.put_task(TaskRecord(c.name, wave, c.provider, task.task_id, task.name, c.settings_fingerprint(),
                              started=task.started, created_at=now_iso()))
    notes.append(f"{c.name}: adopted task {task.task_id} ({task.name}, {task.phase.value}) as wave {wave}; its "
                 "settings are assumed to match the files (the platform cannot report them all)")
    already = {r.phone for r in store.contacts(c.name) if r.task_id and r.status is ContactStatus.SENT}
    rows = [r for r in c.contacts.rows if r.phone not in already]
    count = task.contact_count
    if count is None:
        try:
            count = provider.count_contacts(task.task_id)
        except Exception:
            count = None
    store.put_contacts([ContactRecord(c.name, r.phone, r.fingerprint, task.task_id, wave, None, ContactStatus.SENT)
                        for r in rows])
    if count is not None and count != len(rows) + len(already):
        notes.append(f"{c.name}: the platform holds {count} numbers in task {task.task_id} but the files list "
                     f"{len(c.contacts.rows)}; all of the files' contacts were recorded as sent so that none is "
                     "dialed twice — check the task on the platform")
    if task.phase is Phase.FINISHED:
        notes.append(f"{c.name}: task {task.task_id} has finished")
    return notes


def adopt_direct(store: StateStore, c: DesiredCampaign) -> list[str]:
    known = {r.phone for r in store.contacts(c.name) if not r.task_id}
    rows = [r for r in c.contacts.rows if r.phone not in known]
    if not rows:
        return []
    store.put_campaign(CampaignRecord(c.name, c.provider, c.mode, c.provider_type))
    store.put_contacts([ContactRecord(c.name, r.phone, r.fingerprint, "", 0, None, ContactStatus.UNKNOWN)
                        for r in rows])
    return [f"{c.name}: the platform does not report which contacts a direct campaign dialed; {len(rows)} "
            f"contacts were recorded as unknown. Settle them with `campaignctl state resolve {c.name} "
            "--dialed|--not-dialed`"]
