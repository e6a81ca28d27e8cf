"""Generate RELIABILITY.md from the fault, soak and fuzz suites' results.

    # run everything (the figures in the committed file came from this):
    python benchmarks/reliability.py --run --soak-runs 100 --fuzz-cases 10000 --out RELIABILITY.md

    # or render from results made earlier:
    python benchmarks/reliability.py --matrix-results DIR --soak S1.json S2.json --fuzz F.json --out RELIABILITY.md

``--run`` runs ``tests/faults/test_matrix.py`` under pytest with
``CAMPAIGNCTL_RESULTS_DIR`` (one JSON line per cell), ``benchmarks/soak.py``
on both backends and ``benchmarks/fuzz.py``, then renders. Every table says
the command that reproduces it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CALL_ORDER = ["xfyeta create", "xfyeta insert", "xfyeta start", "xfyeta pause", "xfyeta delete", "xfyeta callout",
              "yccall TaskCreat", "yccall TaskAdd", "yccall TaskSet", "yccall taskDelPhone"]
FAULT_ORDER = ["timeout-late", "lost-after-commit", "5xx-once", "5xx-always", "429-retry-after", "html-body",
               "truncated-body", "vendor-error", "expired-token", "partial-landing"]
FAULT_WORDS = {
    "timeout-late": "read timeout, change applied late",
    "lost-after-commit": "answer lost after commit",
    "5xx-once": "HTTP 503 once",
    "5xx-always": "HTTP 503 always",
    "429-retry-after": "429 + Retry-After",
    "html-body": "HTML body",
    "truncated-body": "truncated body",
    "vendor-error": "vendor error code",
    "expired-token": "expired token",
    "partial-landing": "part of the rows land, answer lost",
}
SHORT = {"absorbed": "ok", "failed, converged on re-apply": "re-apply", "left for state resolve": "resolve"}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


# --- producing results ---------------------------------------------------------------------------


def run_matrix(results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    for old in results.glob("matrix-*.jsonl"):
        old.unlink()
    env = {**os.environ, "CAMPAIGNCTL_RESULTS_DIR": str(results), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider",
                    "tests/faults/test_matrix.py"], cwd=ROOT, env=env, check=False)


def run_soak(runs: int, out: Path) -> list[Path]:
    paths = []
    for seed, backend in ((1, "sqlite"), (2, "postgres")):
        path = out / f"soak-{backend}.json"
        subprocess.run([sys.executable, "benchmarks/soak.py", "--runs", str(runs), "--seed", str(seed),
                        "--backend", backend, "--quiet", "--json", str(path)], cwd=ROOT, check=False)
        paths.append(path)
    return paths


def run_fuzz(cases: int, out: Path) -> Path:
    path = out / "fuzz.json"
    subprocess.run([sys.executable, "benchmarks/fuzz.py", "--cases", str(cases), "--jobs", "2", "--json", str(path)],
                   cwd=ROOT, check=False)
    return path


# --- rendering --------------------------------------------------------------------------------------


def load_matrix(folder: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for f in sorted(folder.glob("matrix-*.jsonl")) for line in f.read_text().splitlines()
            if line.strip()]
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:  # the last result of a cell wins (a re-run appends)
        latest[r["name"]] = r
    return list(latest.values())


def matrix_section(rows: list[dict[str, Any]]) -> list[str]:
    cells = {(f"{r['vendor']} {r['call']}", r["fault"]): r for r in rows}
    out = ["## Fault matrix", "",
           "Every mutating call of both vendors against every fault the emulators inject, each followed by a "
           "clean re-apply (`tests/faults/test_matrix.py`). A cell passes when: no duplicate task, no phone "
           "twice in a task, no second dial; every contact in the files is in its task (or dialed once), or "
           "is reported for `campaignctl state resolve`; every step that did not finish says why in one line; "
           "exit 0/1, never a traceback; the faulted call was never sent blindly again.", "",
           "Outcome of the faulted apply: **ok** — absorbed in the same apply (retried when the call is "
           "idempotent or was refused; a lost create or insert found on the platform); **re-apply** — the step "
           "failed with a one-line reason, nothing was sent twice, and the clean re-apply converged; **resolve** "
           "— contacts of unknown outcome (a direct callout whose answer was lost; an insert whose count fits "
           "neither outcome) are never re-sent and are reported for `state resolve`; — not applicable.", ""]
    header = "| call | " + " | ".join(FAULT_WORDS[f] for f in FAULT_ORDER) + " |"
    out += [header, "|---|" + "---|" * len(FAULT_ORDER)]
    for call in CALL_ORDER:
        line = [f"`{call}`"]
        for fault in FAULT_ORDER:
            r = cells.get((call, fault))
            if r is None:
                line.append("—")
                continue
            word = SHORT.get(r["outcome"], r["outcome"])
            line.append(f"**FAIL**: {'; '.join(r['problems'])[:60]}" if r["problems"] else word)
        out.append("| " + " | ".join(line) + " |")
    outcomes = Counter(SHORT.get(r["outcome"], r["outcome"]) for r in rows)
    failing = [r for r in rows if r["problems"]]
    dup = sum(r.get("duplicate_tasks", 0) + r.get("duplicate_rows", 0) for r in rows)
    dials = sum(r.get("second_dials", 0) for r in rows)
    out += ["", f"{len(rows)} cells: " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
            + f"; {len(failing)} failing; duplicate tasks or rows: {dup}; second dials: {dials}.", "",
            "Reproduce: `python3 -m pytest -n 2 tests/faults/test_matrix.py` (one cell: "
            "`-k 'xfyeta-create-timeout-late'`).", "",
            "<details><summary>Every cell: exits, attempts, the reason shown</summary>", "",
            "*attempts faulted*: attempts of the call that met the fault (a call that may have reached the vendor "
            "is never retried, so 1 for create, insert, callout, TaskCreat, TaskAdd); *sent*: attempts of the "
            "call over the faulted apply and the re-applies together.", "",
            "| cell | first apply exit | re-apply exits | final plan exit | attempts faulted | sent | reason shown |",
            "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (CALL_ORDER.index(f"{r['vendor']} {r['call']}"),
                                         FAULT_ORDER.index(r["fault"]))):
        reason = r.get("reason", "").replace("|", "\\|")
        reason = " ".join(reason.split())[:110] or "—"
        out.append(f"| `{r['name']}` | {r['first_exit']} | {r['reapply_exits']} | {r['final_plan_exit']} | "
                   f"{r['faulted_attempts']} | {r['sent']} | {reason} |")
    out += ["", "</details>", ""]
    return out


def soak_section(summaries: list[dict[str, Any]]) -> list[str]:
    out = ["## Crash soak", "",
           "`benchmarks/soak.py` builds a project on the emulators (xfyeta task campaigns with contact counts at "
           "batch boundaries, a paused one, a direct-callout campaign, a yccall campaign), then runs "
           "`campaignctl apply` as a subprocess one to three times, each killed with SIGKILL when the platforms "
           "have seen a random number of its vendor calls or at a random moment, sometimes changing the files "
           "in between; then applies cleanly until it exits 0 and checks the platforms.", "",
           "| backend | runs | kills | kills mid-apply | converged | left for `state resolve` | duplicate tasks | "
           "duplicate rows | second dials | contacts lost | runs with problems | seconds |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        out.append(f"| {s['backend']} | {s['runs']} | {s['kills']} | {s['mid_apply_kills']} | {s['converged']} | "
                   f"{s['left_for_resolve']} | {s['duplicate_tasks']} | {s['duplicate_rows']} | {s['second_dials']} | "
                   f"{s['lost']} | {s['problems']} | {s['seconds']} |")
    out.append("")
    for s in summaries:
        points = sorted((int(k), v) for k, v in s["kill_points"].items())
        out.append(f"- {s['backend']} (seed {s['seed']}, commit `{s.get('commit', '?')}`): vendor calls seen per kill "
                   + ", ".join(f"{k}: {v}" for k, v in points)
                   + "; clean applies needed afterwards " + ", ".join(f"{k}: {v}" for k, v in
                                                                     sorted(s["reapplies"].items())))
        bad = [r for r in s.get("run_results", []) if r["problems"]]
        for r in bad[:10]:
            out.append(f"  - run {r['run']}: {'; '.join(r['problems'])[:200]}")
    out += ["", "Reproduce: `python3 benchmarks/soak.py --runs 100 --seed 1 --backend sqlite` and "
            "`--seed 2 --backend postgres` (one run: `--runs 1 --seed S`); the default suite runs three per "
            "backend (`tests/faults/test_soak.py`).", ""]
    return out


def fuzz_section(data: dict[str, Any]) -> list[str]:
    out = ["## Fuzzing", "",
           "`tests/faults/fuzzgen.py` mutates a valid project (xfyeta task, direct, yccall; CSV contacts) one to "
           "four times per case: wrong types, huge (past 4,300 digits) and non-finite numbers, NUL bytes, alias "
           "bombs, nesting thousands deep, odd encodings and BOMs, giant fields, wrong column counts, truncation, "
           "unknown and duplicated keys, and valid-but-odd edits. Each case runs `validate`, then `plan` against "
           "loopback emulators (on every valid case and one invalid case in five), bounded to "
           "10 s per case.", "",
           f"{data['cases']:,} cases (seeds {data['first_seed']}..{data['first_seed'] + data['cases'] - 1}, "
           f"commit `{data.get('commit', '?')}`), {data['seconds']:.0f} s with {data['jobs']} jobs on a shared "
           f"machine; slowest case {data['max_seconds']:.2f} s.", "",
           "| outcome | cases |", "|---|---|"]
    for verdict, n in sorted(data["verdicts"].items()):
        out.append(f"| {verdict} | {n:,} |")
    out += ["", "| validate exit / plan exit | cases |", "|---|---|"]
    for key, n in sorted(data["exits"].items()):
        out.append(f"| {key.replace('None', '-')} | {n:,} |")
    out += ["", "Known crashes (`known:*`) are config items waiting for the vendor refactor; they are counted, "
            "listed and pinned by `xfail(strict=True)` tests, never hidden:", ""]
    for tag, what in data["known"].items():
        seeds = data.get("known_seeds", {}).get(tag, [])
        out.append(f"- `{tag}`: {what}. Seeds: {', '.join(map(str, seeds[:12])) or 'none in this run'}"
                   f"{' …' if len(seeds) > 12 else ''}")
    if data["failed"] or data["slow"]:
        out += ["", "Failures:"] + [f"- seed {r['seed']}: {r['verdict']} {r['mutations']}"
                                    for r in data["failed"] + data["slow"]]
    else:
        out += ["", "No other failure: every other case exited 0, 1 or 2 without a traceback, within the bound."]
    out += ["", "Reproduce: `python3 benchmarks/fuzz.py --cases 10000` (one case: `--seed N --cases 1`); CI runs "
            "1,000 (`tests/faults/test_fuzz_cli.py`, `CAMPAIGNCTL_FUZZ_CASES` for more).", ""]
    return out


SUITES = [
    ("tests/engine/test_apply.py",
     "the Applier over loopback at contact counts 0, 1, 49, 50, 51, 101 in every batch loop (xfyeta insert, "
     "yccall create + TaskAdd, direct callout, yccall remove); a lost answer on the last batch; partial landings "
     "never re-sent and held for `state resolve`; a call whose journal intent failed is never sent"),
    ("tests/engine/test_settle.py",
     "the settlement verdicts at batch boundaries and for every ambiguous count; waiting and recovery against the "
     "emulators, including a create killed after its task was recorded"),
    ("tests/faults/test_hostile_state.py",
     "damaged SQLite rows and pages, truncated files, the state deleted mid-apply, a read-only bind mount, a full "
     "tmpfs: a clear one-line message (never the database's bytes), nothing lost, convergence"),
    ("tests/faults/test_postgres_restart.py",
     "a private PostgreSQL server restarted (fast and immediate) between and during applies: reads reconnect, "
     "writes never repeat, the lock is taken again or the run is fenced, journal intents survive a crash"),
    ("tests/faults/test_config_limits.py",
     "config inputs that crash or stall today (unbounded options, 4,300-digit integers, validation speed): "
     "`xfail(strict=True)` until the config work lands"),
    ("tests/e2e/test_interruptions.py", "a crash at every state write, a real `kill -9` proven to land mid-apply, "
                                        "Ctrl-C"),
]
PLANTED = ("The two planted bugs of the issue (an insert loop dropping a last batch of exactly one row; a lost "
           "insert answer re-sent when the platform's count is ambiguous, in the live apply and in recovery) "
           "were planted temporarily: the first fails 21 tests of `tests/engine/test_apply.py`, the second 6 "
           "(live) and 9 (recovery); the suite before this work passed with either.")


def suites_section() -> list[str]:
    out = ["## Other suites", "", "| suite | what it proves | command |", "|---|---|---|"]
    out += [f"| `{name}` | {what} | `python3 -m pytest {name}` |" for name, what in SUITES]
    return [*out, "", PLANTED, ""]


def render(matrix: list[dict[str, Any]], soak: list[dict[str, Any]], fuzz: dict[str, Any] | None) -> str:
    lines = ["# Reliability", "",
             f"Generated by `python3 benchmarks/reliability.py` on {datetime.date.today().isoformat()} from commit "
             f"`{_git('rev-parse', '--short', 'HEAD')}` ({platform.python_implementation()} "
             f"{platform.python_version()}, {os.cpu_count()} CPUs). Do not edit by hand: run it again.", "",
             "What is claimed: a fault or a crash at any point never dials a person twice, never makes a second "
             "task or row, and loses no contact — each ends up where the files say, or is reported for "
             "`campaignctl state resolve` when its outcome cannot be known; the user sees a one-line reason, "
             "never a traceback; a clean re-apply converges.", ""]
    if matrix:
        lines += matrix_section(matrix)
    if soak:
        lines += soak_section(soak)
    if fuzz:
        lines += fuzz_section(fuzz)
    lines += suites_section()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="store_true", help="run the suites first")
    parser.add_argument("--soak-runs", type=int, default=100)
    parser.add_argument("--fuzz-cases", type=int, default=10_000)
    parser.add_argument("--matrix-results", type=Path, default=None)
    parser.add_argument("--soak", type=Path, nargs="*", default=[])
    parser.add_argument("--fuzz", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "RELIABILITY.md")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="campaignctl-reliability-"))
    matrix_dir = args.matrix_results or work / "matrix"
    soak_files = list(args.soak)
    fuzz_file = args.fuzz
    if args.run:
        run_matrix(matrix_dir)
        soak_files = run_soak(args.soak_runs, work)
        fuzz_file = run_fuzz(args.fuzz_cases, work)
    matrix = load_matrix(matrix_dir) if matrix_dir.exists() else []
    soak: list[dict[str, Any]] = []
    for f in soak_files:
        data = json.loads(f.read_text(encoding="utf-8"))
        soak += data if isinstance(data, list) else [data]
    fuzz = json.loads(fuzz_file.read_text(encoding="utf-8")) if fuzz_file else None
    args.out.write_text(render(matrix, soak, fuzz), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
