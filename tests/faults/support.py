"""Shared helpers of the fault, soak and hostile-state suites.

Projects here are tuned for speed: a short read timeout and settle window,
so a "read timeout with the change applied late" costs about a second, not
the production 30 s. Emulators run in-process on loopback.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.emulator import start_emulator
from tests.e2e.conftest import XF_ENV, YC_ENV, Result, project, run_cli

READ_TIMEOUT = 1.0  # seconds: the profiles' read_timeout in these projects
SETTLE_WINDOW = 2.2  # seconds: the profiles' settle_window
LATE = 1.6  # seconds: a vendor that answers after the read timeout, inside the settle window

XF_MUTATING = ("task/create", "task/insert", "task/start", "task/pause", "task/delete", "task/callout")
YC_MUTATING = ("App.Sip_Yccall.TaskCreat", "App.Sip_Yccall.TaskAdd", "App.Sip_Yccall.TaskSet",
               "App.Sip_Yccall.taskDelPhone")


def fast_project(tmp: Path, *, xf_url: str = "http://127.0.0.1:9", yc_url: str = "http://127.0.0.1:9",
                 init: bool = True, state: str | None = None) -> Path:
    """``tests.e2e.conftest.project`` with fast timeouts; ``state`` replaces the state block."""
    d = project(tmp, xf_url=xf_url, yc_url=yc_url, init=False)
    f = d / "campaignctl.yaml"
    text = f.read_text(encoding="utf-8").replace(
        "read_timeout: 5", f"read_timeout: {READ_TIMEOUT}\n    settle_window: {SETTLE_WINDOW}")
    if state is not None:
        text = text.partition("state:\n")[0] + state
    f.write_text(text, encoding="utf-8")
    if init:
        res = run_cli("state", "init", str(d))
        assert res.exit_code == 0, res.output
    return d


@contextmanager
def emulators(**kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """Both emulators on loopback, credentials in the environment."""
    saved = {k: os.environ.get(k) for k in (*XF_ENV, *YC_ENV)}
    os.environ.update(XF_ENV)
    os.environ.update(YC_ENV)
    xf, xf_server = start_emulator("xfyeta", **kwargs)
    yc, yc_server = start_emulator("yccall", **kwargs)
    xf.base_url = xf_server.base_url
    yc.base_url = yc_server.base_url
    try:
        yield xf, yc
    finally:
        xf_server.stop()
        yc_server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def xf_counts(emu: Any) -> Counter[str]:
    out: Counter[str] = Counter()
    for call in emu.calls:
        path = str(call.get("path", ""))
        key = path.split("/v1/")[-1] if "/v1/" in path else path
        if key in XF_MUTATING:
            out[key] += 1
    return out


def yc_counts(emu: Any) -> Counter[str]:
    return Counter(c["service"] for c in emu.calls if c["service"] in YC_MUTATING)


# --- invariants -------------------------------------------------------------------------------


def xf_live(emu: Any) -> list[dict[str, Any]]:
    return [t for t in emu.state()["tasks"] if not t["deleted"]]


def yc_live(emu: Any) -> list[dict[str, Any]]:
    return [t for t in emu.state()["tasks"] if t["status"] != 1028]


def duplicates(xf: Any | None, yc: Any | None) -> dict[str, int]:
    """What must always be zero: a second live task of one name, a phone twice in a task, a second dial."""
    dup_tasks = dup_rows = second_dials = 0
    if xf is not None:
        st = xf.state()
        names = Counter(t["task_name"] for t in st["tasks"] if not t["deleted"])
        dup_tasks += sum(n - 1 for n in names.values() if n > 1)
        # a phone twice in a task, or in two live tasks (waves) of one campaign, is dialed twice
        by_campaign: dict[str, Counter[str]] = {}
        for t in st["tasks"]:
            if t["deleted"] and not t["time_task_start"]:
                continue  # deleted before it ever started: it dialed nobody
            by_campaign.setdefault(t["task_name"].split("~")[0], Counter()).update(n["phone"] for n in t["numbers"])
        for numbers in by_campaign.values():
            dup_rows += sum(n - 1 for n in numbers.values() if n > 1)
        dials = Counter(d["phone"] for d in st["dials"])
        second_dials += sum(n - 1 for n in dials.values() if n > 1)
    if yc is not None:
        st = yc.state()
        names = Counter(t["customtaskid"] for t in st["tasks"] if t["status"] != 1028)
        dup_tasks += sum(n - 1 for n in names.values() if n > 1)
        # yccall rejects a phone already in the task; a second *task* holding it would dial it twice
        holders = Counter(n["telphone"] for t in st["tasks"] if t["status"] != 1028 for n in t["numbers"])
        dup_rows += sum(n - 1 for n in holders.values() if n > 1)
    return {"duplicate_tasks": dup_tasks, "duplicate_rows": dup_rows, "second_dials": second_dials}


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.MULTILINE)


def clean_output(res: Result) -> str:
    """'' when the output is fit for a person: no traceback, no internal error; else why not."""
    if TRACEBACK.search(res.output):
        return "a traceback in the output"
    if "internal error" in res.output or res.exit_code == 3:
        return "an internal error (exit 3)"
    if res.exit_code not in (0, 1, 2):
        return f"exit {res.exit_code}"
    return ""


def reason_lines(res: Result) -> list[str]:
    """The lines that say why an apply did not finish cleanly (step failures and errors)."""
    keep = ("failed", "unknown", "Error:", "error:", "skipped", "was not sent again", "state resolve")
    return [ln for ln in res.output.splitlines() if any(k in ln for k in keep)]


def record(kind: str, name: str, payload: dict[str, Any]) -> None:
    """Append one result row for ``benchmarks/reliability.py`` when ``CAMPAIGNCTL_RESULTS_DIR`` is set."""
    folder = os.environ.get("CAMPAIGNCTL_RESULTS_DIR")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with (path / f"{kind}-{worker}.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": kind, "name": name, **payload}, ensure_ascii=False, sort_keys=True) + "\n")
