"""Simulated time and fault injection shared by the emulators.

``Clock`` lets tests and the demo run a campaign day in seconds (time scale)
or jump ahead (``advance``). ``FaultPlan`` holds rules such as
``task/create:drop`` or ``*:latency:0.2*inf`` that make the next matching calls
misbehave the way real networks and vendors do (``partial:N[:STATUS]`` lands
only the first N rows of an insert, then drops the answer or answers STATUS), so the client's retry and
"unknown outcome" logic can be tested against a real HTTP server.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

__all__ = ["FAULT_KINDS", "TERMINAL_KINDS", "Clock", "Fault", "FaultPlan", "normalize_match_key"]

FAULT_KINDS = ("latency", "status", "429", "drop", "malformed", "error", "expire-token", "partial")
# At most one of these shapes a response; latency and expire-token combine with them.
TERMINAL_KINDS = frozenset({"status", "429", "drop", "malformed", "error", "partial"})

_VERSION_SEGMENT = re.compile(r"^v\d+$")


class Clock:
    """Simulated time: start wall time + elapsed real time x scale + manual offset."""

    def __init__(self, time_scale: float = 1.0, start: float | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = float(time_scale)
        self._start = time.time() if start is None else float(start)
        self._mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now_s(self) -> float:
        """Simulated Unix time in seconds."""
        with self._lock:
            return self._start + (time.monotonic() - self._mono) * self.time_scale + self._offset

    def now_ms(self) -> int:
        """Simulated Unix time in milliseconds."""
        return int(self.now_s() * 1000)

    def advance(self, seconds: float) -> float:
        """Jump the simulated time forward; returns the new simulated time in seconds."""
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        with self._lock:
            self._offset += float(seconds)
        return self.now_s()


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; ``arg`` is kind-specific (seconds, HTTP status, vendor code)."""

    match: str
    kind: str
    arg: str | None = None

    @property
    def seconds(self) -> float:
        """Delay for ``latency``, Retry-After for ``429`` (default 1)."""
        return float(self.arg) if self.arg not in (None, "") else 1.0

    @property
    def status_code(self) -> int:
        """HTTP status for ``status`` (default 500)."""
        return int(self.arg) if self.arg not in (None, "") else 500

    @property
    def vendor_code(self) -> int:
        """Vendor business code for ``error``."""
        return int(self.arg or 0)

    @property
    def partial_rows(self) -> int:
        """For ``partial``: how many leading rows of the request land (``partial:N[:STATUS]``)."""
        return int(str(self.arg).split(":")[0])

    @property
    def partial_status(self) -> int | None:
        """For ``partial``: the HTTP status answered after landing (None: the answer is dropped)."""
        parts = str(self.arg).split(":")
        return int(parts[1]) if len(parts) > 1 else None

    def describe(self) -> str:
        """The rule text, recorded in the call log."""
        return f"{self.kind}:{self.arg}" if self.arg not in (None, "") else self.kind


@dataclass
class _Rule:
    fault: Fault
    remaining: int | None  # None = unlimited


def normalize_match_key(key: str) -> str:
    """``/openapi/task/v1/create`` -> ``task/create``: drop ``openapi`` and version segments."""
    segments = [s for s in key.strip("/").split("/") if s and s != "openapi" and not _VERSION_SEGMENT.match(s)]
    return "/".join(segments)


def _matches(match: str, key: str) -> bool:
    if match == "*":
        return True
    if key == match:
        return True
    for candidate in {key, normalize_match_key(key)}:
        if candidate == match or candidate.endswith("/" + match) or candidate.endswith("." + match):
            return True
    return False


class FaultPlan:
    """An ordered, thread-safe list of fault rules, each consumed ``times`` times."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        """Build a plan from ``<match>:<kind>[:<arg>][*<times>]`` rules, comma-separated."""
        plan = cls()
        plan.add(spec)
        return plan

    @staticmethod
    def parse_rule(text: str) -> tuple[Fault, int | None]:
        """One rule -> (fault, times); raises ``ValueError`` with a readable message."""
        rule = text.strip()
        times: int | None = 1
        head, star, tail = rule.rpartition("*")
        if star and head and re.fullmatch(r"\d+|inf", tail.strip()):
            rule = head
            times = None if tail.strip() == "inf" else int(tail)
            if times is not None and times < 1:
                raise ValueError(f"fault rule {text!r}: times must be at least 1")
        parts = rule.split(":")
        if len(parts) < 2 or not parts[0].strip():
            raise ValueError(f"fault rule {text!r}: expected <match>:<kind>[:<arg>][*<times>]")
        match, kind = parts[0].strip(), parts[1].strip()
        arg = ":".join(parts[2:]).strip() or None
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault rule {text!r}: unknown kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
        fault = Fault(match=match, kind=kind, arg=arg)
        try:
            if kind == "latency":
                if arg is None or fault.seconds < 0:
                    raise ValueError
            elif kind == "429":
                if fault.seconds < 0:
                    raise ValueError
            elif kind == "status":
                if not 100 <= fault.status_code <= 599:
                    raise ValueError
            elif kind == "error":
                if arg is None:
                    raise ValueError
                _ = fault.vendor_code
            elif kind == "malformed":
                if arg not in (None, "html", "truncated"):
                    raise ValueError
            elif kind == "partial":
                if arg is None or not re.fullmatch(r"\d+(:\d{3})?", arg) or fault.partial_rows < 0:
                    raise ValueError
                if fault.partial_status is not None and not 100 <= fault.partial_status <= 599:
                    raise ValueError
            elif arg is not None:  # drop, expire-token take no argument
                raise ValueError
        except ValueError:
            raise ValueError(f"fault rule {text!r}: bad argument {arg!r} for {kind}") from None
        return fault, times

    def add(self, spec: str | None) -> list[Fault]:
        """Append the rules of ``spec`` (all validated before any is added)."""
        parsed = [self.parse_rule(part) for part in (spec or "").split(",") if part.strip()]
        with self._lock:
            for fault, times in parsed:
                self._rules.append(_Rule(fault, times))
        return [fault for fault, _ in parsed]

    def add_fault(self, fault: Fault, times: int | None = 1) -> None:
        """Append one already-built fault."""
        with self._lock:
            self._rules.append(_Rule(fault, times))

    def _consume(self, rule: _Rule) -> None:
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._rules.remove(rule)

    def take(self, match_key: str) -> Fault | None:
        """Consume and return the first rule matching ``match_key`` (path or service name)."""
        with self._lock:
            for rule in self._rules:
                if _matches(rule.fault.match, match_key):
                    self._consume(rule)
                    return rule.fault
        return None

    def take_all(self, match_key: str) -> list[Fault]:
        """Consume every matching latency/expire-token rule and at most one response-shaping rule."""
        taken: list[Fault] = []
        terminal_taken = False
        with self._lock:
            for rule in list(self._rules):
                if not _matches(rule.fault.match, match_key):
                    continue
                if rule.fault.kind in TERMINAL_KINDS:
                    if terminal_taken:
                        continue
                    terminal_taken = True
                self._consume(rule)
                taken.append(rule.fault)
        return taken

    def clear(self) -> None:
        """Forget every rule."""
        with self._lock:
            self._rules.clear()

    def pending(self) -> list[dict[str, object]]:
        """The rules still armed, for the control API."""
        with self._lock:
            return [
                {"match": r.fault.match, "kind": r.fault.kind, "arg": r.fault.arg,
                 "remaining": "inf" if r.remaining is None else r.remaining}
                for r in self._rules
            ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)
