"""Adopt remote tasks into the state: `import` and `state rebuild`.

The platforms report a task's settings only in part and never which numbers
a task holds (xfyeta reports a count). So adoption errs on the side of
never dialing twice, and never on the side of dropping leads silently:

* a started task: the campaign's contacts are recorded as sent to it (they
  may have been called), with a note when the platform's count differs;
* a never-started task holding no numbers: nothing is recorded, so the next
  apply inserts the files' contacts;
* a never-started task holding as many numbers as the files: recorded as
  sent; holding some other count: nothing is recorded and its settings are
  marked unknown, so the next plan replaces it (nobody was called yet);
* direct-mode contacts are recorded ``unknown`` (never dialed again until
  ``state resolve`` settles them).

A wave has one live task: adopting a second one for a wave whose recorded
task is still on the platform is refused, and ``rebuild`` keeps one task per
wave (the others become history, so their contacts count as redials).
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.engine.settle import now_iso, record_task
from reconciler.errors import CampaignctlError, ProviderError
from reconciler.model import DesiredCampaign
from reconciler.providers.base import ObservedTask, Phase, Provider
from reconciler.state.base import CampaignRecord, ContactRecord, ContactStatus, StateStore, TaskRecord

__all__ = ["adopt_direct", "adopt_task", "check_wave_free", "rebuild_campaign"]


def _count(provider: Provider, task: ObservedTask) -> int | None:
    if task.contact_count is not None:
        return task.contact_count
    try:
        return provider.count_contacts(task.task_id)
    except ProviderError:
        return None


def _wave(provider: Provider, c: DesiredCampaign, task: ObservedTask, notes: list[str]) -> int:
    wave = provider.wave_of(task.name, c.name)
    if wave is None:
        notes.append(f"{c.name}: task {task.task_id} is named {task.name!r}, not {provider.task_name(c.name, 1)!r}; "
                     "adopted as wave 1 (campaignctl will find it by id)")
        return 1
    return wave


def check_wave_free(store: StateStore, provider: Provider, c: DesiredCampaign, task: ObservedTask) -> None:
    """Refuse to adopt a second live task for a wave whose recorded task is still on the platform."""
    wave = provider.wave_of(task.name, c.name) or 1
    for rec in store.tasks(c.name):
        if rec.wave != wave or rec.deleted or rec.task_id == task.task_id:
            continue
        current = provider.get_task(rec.task_id)
        if current is not None and not current.deleted and current.phase is not Phase.ABSENT:
            raise CampaignctlError(
                f"wave {wave} of campaign {c.name!r} is task {rec.task_id} already, and it is still on the "
                f"platform; adopting task {task.task_id} would give the wave two live tasks that may dial the same "
                f"contacts. Delete or pause one of them on the platform first")


def adopt_task(store: StateStore, provider: Provider, c: DesiredCampaign, task: ObservedTask) -> list[str]:
    notes: list[str] = []
    wave = _wave(provider, c, task, notes)
    store.put_campaign(CampaignRecord(c.name, c.provider, c.mode, c.provider_type))
    live_ids = {t.task_id for t in store.tasks(c.name) if not t.deleted}
    already = {r.phone for r in store.contacts(c.name) if r.task_id in live_ids and r.status is ContactStatus.SENT}
    rows = [r for r in c.contacts.rows if r.phone not in already]
    count = _count(provider, task)
    fingerprint, settings = c.settings_fingerprint(), c.settings()
    record_rows = True
    if not task.started:
        if count == 0:
            record_rows = False
            notes.append(f"{c.name}: task {task.task_id} has not started and holds no numbers; the next apply "
                         f"inserts the files' {len(c.contacts.rows)} contacts")
        elif count is not None and count != len(c.contacts.rows):
            record_rows = False
            fingerprint, settings = "", {}
            notes.append(f"{c.name}: task {task.task_id} has not started and holds {count} numbers, the files list "
                         f"{len(c.contacts.rows)}; the next plan replaces it with the files' contacts (nobody was "
                         "called yet)")
    record_task(store, TaskRecord(c.name, wave, c.provider, task.task_id, task.name, fingerprint,
                                  started=task.started, created_at=now_iso(), settings=settings))
    notes.append(f"{c.name}: adopted task {task.task_id} ({task.name}, {task.phase.value}) as wave {wave}; its "
                 "settings are assumed to match the files (the platform cannot report them all)")
    if record_rows:
        store.put_contacts([ContactRecord(c.name, r.phone, r.fingerprint, task.task_id, wave, None,
                                          ContactStatus.SENT) for r in rows])
        if task.started and count is not None and count != len(rows) + len(already):
            notes.append(f"{c.name}: the platform holds {count} numbers in task {task.task_id} but the files list "
                         f"{len(c.contacts.rows)}; all of the files' contacts were recorded as sent so that none is "
                         "dialed twice — check the task on the platform")
    if task.phase is Phase.FINISHED:
        notes.append(f"{c.name}: task {task.task_id} has finished")
    return notes


def _history_task(store: StateStore, c: DesiredCampaign, wave: int, task: ObservedTask) -> str:
    """Record a superseded task of a wave as history: its contacts count as redials if sent again."""
    store.put_task(TaskRecord(c.name, wave, c.provider, task.task_id, task.name, "", started=task.started,
                              deleted=True, created_at=now_iso()))
    if task.started:
        store.put_contacts([ContactRecord(c.name, r.phone, r.fingerprint, task.task_id, wave, None,
                                          ContactStatus.SENT) for r in c.contacts.rows])
    return (f"{c.name}: task {task.task_id} ({task.name}, {task.phase.value}) was superseded by a newer task of "
            f"wave {wave}; kept as history" + (" (its contacts count as already called)" if task.started else ""))


def rebuild_campaign(store: StateStore, provider: Provider, c: DesiredCampaign,
                     listed: Sequence[ObservedTask]) -> list[str]:
    """Adopt one task per wave of ``c`` from a listing; older tasks of the same wave become history."""
    known = {t.task_id for t in store.tasks(c.name)}
    by_wave: dict[int, list[ObservedTask]] = {}
    for t in listed:
        wave = provider.wave_of(t.name, c.name)
        if wave is None or t.deleted or t.phase is Phase.ABSENT or t.task_id in known:
            continue
        by_wave.setdefault(wave, []).append(t)
    notes: list[str] = []
    for wave, tasks in sorted(by_wave.items()):
        live = [r for r in store.tasks(c.name) if r.wave == wave and not r.deleted]
        # The one that stands for the wave: not finished, then the newest.
        tasks.sort(key=lambda t: (t.phase is not Phase.FINISHED, t.created_at or 0, t.task_id), reverse=True)
        if live:
            notes.append(f"{c.name}: wave {wave} is task {live[0].task_id} in the state already; "
                         f"{', '.join(t.task_id for t in tasks)} left for `plan` to report")
            continue
        keeper, older = tasks[0], tasks[1:]
        for t in older:
            if t.phase is Phase.FINISHED:
                notes.append(_history_task(store, c, wave, t))
            else:  # a live duplicate: never hidden; plan shows it (deleted if it never started)
                notes.append(f"{c.name}: task {t.task_id} ({t.name}) is a second live task of wave {wave}; "
                             "not adopted — `plan` reports it")
        notes += adopt_task(store, provider, c, keeper)
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
