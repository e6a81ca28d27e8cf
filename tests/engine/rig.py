"""An engine test rig: both emulators on loopback, real providers, a state store, the real diff.

``Rig.apply(desired)`` is what `campaignctl apply` does under its lock:
recover, observe, diff, execute. Tests drive it one step at a time when they
need to (``plan``, ``execute``, ``recover``) and count on the emulators what
was sent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.emulator import start_emulator
from reconciler.engine.apply import Applier
from reconciler.engine.diff import diff
from reconciler.engine.inputs import Observed, snapshot, traits_of
from reconciler.engine.observe import observe
from reconciler.engine.plan import Action, ActionKind, ApplyHooks, ApplyResult, Plan
from reconciler.engine.settle import recover
from reconciler.model import DesiredState, ProviderProfile
from reconciler.providers import build_provider
from reconciler.providers.base import Provider
from reconciler.state.base import StateStore
from reconciler.state.memory import MemoryStore

ENV = {"XK": "demo-app-key", "XS": "demo-app-secret", "YA": "demo-appid", "YK": "demo-accesskey"}
READ_TIMEOUT = 3.0  # generous: the machine may be loaded; latency tests pass their own windows
SETTLE_WINDOW = 1.2
YC_BATCH = 50  # yccall's max_numbers_per_call in the rig: batch boundaries at 50 like xfyeta's


def batches(n: int, size: int = 50) -> int:
    return math.ceil(n / size)


@dataclass
class Rig:
    xf: Any
    yc: Any
    providers: dict[str, Provider]
    store: StateStore
    servers: list[Any] = field(default_factory=list)

    def plan(self, desired: DesiredState, store: StateStore | None = None) -> tuple[Plan, Observed]:
        observed = observe(self.providers)
        traits = {name: traits_of(p) for name, p in self.providers.items()}
        recorded = snapshot(store or self.store)
        return diff(desired, observed, recorded, traits, now=datetime.now(UTC)), observed

    def recover(self, desired: DesiredState, store: StateStore | None = None) -> list[str]:
        return recover(store or self.store, self.providers, desired)

    def execute(self, desired: DesiredState, plan: Plan, observed: Observed,
                store: StateStore | None = None, hooks: ApplyHooks | None = None) -> ApplyResult:
        return Applier(desired, self.providers, store or self.store, observed, parallelism=2,
                       hooks=hooks).execute(plan)

    def apply(self, desired: DesiredState, store: StateStore | None = None,
              hooks: ApplyHooks | None = None) -> tuple[Plan, ApplyResult]:
        self.recover(desired, store)
        plan, observed = self.plan(desired, store)
        assert plan.applyable, [str(d.message) for d in plan.errors]
        return plan, self.execute(desired, plan, observed, store, hooks)

    # --- what the platforms hold -------------------------------------------------------------
    def xf_calls(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.xf.calls:
            out[c["path"].rsplit("/v1/", 1)[-1]] += 1
        return out

    def yc_calls(self) -> Counter[str]:
        return Counter(c["service"].rsplit(".", 1)[-1] for c in self.yc.calls)

    def xf_numbers(self, name: str) -> list[str]:
        tasks = [t for t in self.xf.state()["tasks"] if t["task_name"] == name and not t["deleted"]]
        assert len(tasks) <= 1, f"{len(tasks)} live tasks named {name}"
        return [n["phone"] for n in tasks[0]["numbers"]] if tasks else []

    def yc_numbers(self, customtaskid_part: str = "") -> list[str]:
        tasks = [t for t in self.yc.state()["tasks"] if t["status"] != 1028]
        assert len(tasks) <= 1, f"{len(tasks)} live yccall tasks"
        return [n["telphone"] for n in tasks[0]["numbers"]] if tasks else []

    def dials(self) -> list[str]:
        return [d["phone"] for d in self.xf.state()["dials"]]


def profiles(xf_url: str, yc_url: str, **options: Any) -> dict[str, ProviderProfile]:
    opts = {"read_timeout": READ_TIMEOUT, "settle_window": SETTLE_WINDOW, "retries": 2, **options}
    return {
        "iflytek": ProviderProfile("iflytek", "xfyeta", xf_url, "gitops-",
                                   {"app_key": "XK", "app_secret": "XS"}, dict(opts)),
        "callcenter": ProviderProfile("callcenter", "yccall", yc_url, "gitops-",
                                      {"appid": "YA", "accesskey": "YK"},
                                      {**opts, "max_numbers_per_call": YC_BATCH}),
    }


@contextmanager
def rig(store: StateStore | None = None, **options: Any) -> Iterator[Rig]:
    xf, xf_server = start_emulator("xfyeta")
    yc, yc_server = start_emulator("yccall")
    providers = {name: build_provider(p, ENV)
                 for name, p in profiles(xf_server.base_url, yc_server.base_url, **options).items()}
    try:
        yield Rig(xf, yc, providers, store or MemoryStore(create=True), [xf_server, yc_server])
    finally:
        for p in providers.values():
            p.close()
        xf_server.stop()
        yc_server.stop()


class FaultAfter(ApplyHooks):
    """Arms ``spec`` on ``emulator`` once ``batches`` batches of ``kind`` actions have completed:
    the fault then hits batch ``batches + 1`` (0: the first)."""

    def __init__(self, emulator: Any, spec: str, kind: ActionKind, batches: int) -> None:
        self.emulator = emulator
        self.spec = spec
        self.kind = kind
        self.left = batches
        if batches == 0:
            emulator.faults.add(spec)

    def calls_made(self, action: Action, calls: int) -> None:
        if action.kind is self.kind and self.left > 0:
            self.left -= calls
            if self.left == 0:
                self.emulator.faults.add(self.spec)
