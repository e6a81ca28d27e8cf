"""`campaignctl import NAME TASK_ID`: adopt an existing remote task."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands.session import open_session
from reconciler.engine.adopt import adopt_task, check_wave_free
from reconciler.errors import CampaignctlError, ExitCode

__all__ = ["run"]


def run(directory: Path, *, name: str, task_id: str, lock_timeout: float, environment: str | None = None) -> int:
    with open_session(directory, environment=environment) as session:
        campaign = session.desired.campaign(name)
        if campaign is None:
            raise CampaignctlError(f"campaign {name!r} is not in the files of {directory}")
        if campaign.mode == "direct":
            raise CampaignctlError(f"campaign {name!r} is `mode: direct`: it has no task to import")
        provider = session.providers[campaign.provider]
        task = provider.get_task(task_id)
        if task is None or task.deleted:
            raise CampaignctlError(f"task {task_id} does not exist on profile {campaign.provider!r} "
                                   "(or was deleted)")
        with session.store.lock("import", lock_timeout):
            owner = next((r.campaign for r in session.store.tasks() if r.task_id == task_id and not r.deleted),
                         None)
            if owner is not None:
                raise CampaignctlError(f"task {task_id} already belongs to campaign {owner!r} in the state")
            check_wave_free(session.store, provider, campaign, task)
            for note in adopt_task(session.store, provider, campaign, task):
                click.echo(note)
    return ExitCode.OK
