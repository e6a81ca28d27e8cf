"""A seeded generator of hostile config directories, and the runner that pushes them through the CLI.

``generate(seed)`` starts from a valid project (an xfyeta task, an xfyeta
direct campaign, a yccall task, each with a CSV) and applies one to four
mutations: wrong types, huge and non-finite numbers, NUL bytes, alias bombs,
deep nesting, odd encodings, giant fields, wrong column counts, truncation,
unknown and missing keys. ``run_case`` writes it, runs ``validate`` and
``plan`` (against loopback emulators, or an unreachable loopback port) in
process, and classifies the outcome. Used by ``tests/faults/test_fuzz_cli.py``
(CI: >= 1,000 cases) and ``benchmarks/fuzz.py`` (long runs).

Crashes that belong to the config items waiting for the vendor refactor are
recognised by their tags (``KNOWN``) and counted apart, never hidden.
"""

from __future__ import annotations

import random
import re
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KNOWN", "Case", "CaseTimeout", "Outcome", "alarm", "generate", "run_case"]

# tag -> the config item it waits for (a crash carrying the tag is "known", listed, not a new bug)
KNOWN = {
    "huge-int": "an integer past 4,300 digits crashes the loader (config: waits for the vendor refactor)",
    "option-nan": "a non-finite or huge profile option passes validation and crashes or stalls plan (config)",
    "long-path": "a contact source path longer than the OS allows is reported as an internal error of the "
                 "checker, without a line (config: contact sources)",
}
# a crash whose output says this belongs to that known item, whatever the case's tags
KNOWN_OUTPUT = {"long-path": "File name too long"}
PER_CASE_SECONDS = 10.0  # the bound on one input (validate + plan); a case over it is a failure

SAFE_URLS = ("http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9")


class CaseTimeout(BaseException):
    """Raised by the alarm inside the CLI: a BaseException, so nothing in the CLI swallows it."""


@dataclass
class Case:
    seed: int
    files: dict[str, bytes]
    mutations: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    plan: bool = True  # False when a mutation made plan unsafe to run here (a URL off loopback)


@dataclass
class Outcome:
    seed: int
    validate_exit: int
    plan_exit: int | None
    seconds: float
    verdict: str  # ok | known:<tag> | crash | traceback | timeout | exit:<n>
    mutations: list[str]
    detail: str = ""


# --- the valid starting point ---------------------------------------------------------------------


def _project(xf_url: str, yc_url: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        timezone: Asia/Shanghai
        providers:
          iflytek:
            type: xfyeta
            base_url: {xf_url}
            app_key_env: XFYETA_APP_KEY
            app_secret_env: XFYETA_APP_SECRET
            name_prefix: "gitops-"
            retries: 1
            read_timeout: 2
            connect_timeout: 1
            settle_window: 1
          callcenter:
            type: yccall
            base_url: {yc_url}
            appid_env: YCCALL_APPID
            accesskey_env: YCCALL_ACCESSKEY
            retries: 1
            read_timeout: 2
            connect_timeout: 1
        state:
          backend: sqlite
          path: state/state.db
        """)


CAMPAIGNS = textwrap.dedent("""\
    version: 1
    campaigns:
      - name: spring
        provider: iflytek
        robot: "719"
        lines: ["69101338"]
        voice: {code: "60030"}
        schedule:
          begin: "2027-03-01T09:00:00+08:00"
          end: "2027-03-31T20:00:00+08:00"
          windows: ["09:00-12:00", "13:30-20:00"]
        recall: {count: 1, wait: 600}
        turbo: false
        contacts:
          columns: [客户手机号码, 姓名]
          phone_column: 客户手机号码
          sources:
            - csv: ../contacts/a.csv
            - rows: [["19900009999", "张先生"]]
        state: running
      - name: survey
        provider: iflytek
        mode: direct
        robot: "719"
        lines: ["69101338"]
        voice: {code: "60030", speed: 100}
        contacts:
          columns: [客户手机号码, 姓名]
          phone_column: 客户手机号码
          sources:
            - csv: ../contacts/d.csv
      - name: follow
        provider: callcenter
        schedule:
          begin: "2027-03-01T09:00:00+08:00"
          end: "2027-03-31T20:00:00+08:00"
        recall: {count: 1, wait: 3600, mode: unanswered}
        yccall:
          assign: {type: extension, agent: "8001"}
          scale: "1:1"
          scale_mode: auto
          concurrency: 10
          caller_numbers: ["02160000001"]
        contacts:
          columns: [phone]
          phone_column: phone
          sources:
            - csv: ../contacts/y.csv
    """)


def _csv(rng: random.Random, columns: list[str], n: int, start: int) -> str:
    rows = [",".join(columns)]
    for i in range(n):
        phone = f"199{start + i:08d}"
        rows.append(",".join([phone, f"客户{i}"][: len(columns)]))
    return "\n".join(rows) + "\n"


# --- hostile values ---------------------------------------------------------------------------------

HUGE_INT = "9" * 4400


def _hostile_scalar(rng: random.Random) -> tuple[str, set[str]]:
    """A YAML scalar (as text) and its tags."""
    choice = rng.randrange(24)
    if choice == 0:
        return HUGE_INT, {"huge-int"}
    if choice == 1:
        return "-" + "1" * rng.randint(4301, 5000), {"huge-int"}
    if choice == 2:
        return rng.choice([".nan", ".NaN", ".inf", "-.inf", ".Inf"]), {"non-finite"}
    if choice == 3:
        return rng.choice(["1e308", "-1e308", "1e-308", "1e30", "1e-9", "4.9e-324"]), {"extreme-float"}
    if choice == 4:
        return str(rng.choice([0, -1, 2**31, 2**63, -(2**63), 10**18, 10**100])), {"big-int"}
    if choice == 5:
        return '"a\\0b"', {"nul"}
    if choice == 6:
        return '"' + "x" * rng.choice([1000, 100_000, 1_000_000]) + '"', {"giant"}
    if choice == 7:
        return rng.choice(["[]", "{}", "[1, 2]", "{a: 1}", "[[[]]]"]), {"wrong-type"}
    if choice == 8:
        return rng.choice(["null", "~", "true", "false", "yes", "no", "on"]), {"wrong-type"}
    if choice == 9:
        return rng.choice(['""', '" "', "'\t'", '"\\u202e"', '"\\ufeff"', '"\\ud7ff"']), {"odd-text"}
    if choice == 10:
        return rng.choice(["2027-13-45", "2027-03-01T25:61:00+08:00", "0000-00-00", "9999-12-31T23:59:59Z",
                           "2027-03-01", "1970-01-01T00:00:00Z"]), {"odd-time"}
    if choice == 11:
        return rng.choice(['"25:00-26:00"', '"12:00-09:00"', '"09:00-09:00"', '"00:00-24:00"', '"9-12"']), \
            {"odd-window"}
    if choice == 12:
        return rng.choice(['"+86 199 0000 0001"', '"0086-19900000002"', '"199000000"', '"1990000000000000"',
                           '"abc"', '"０１９９"', '"010-12345678"']), {"odd-phone"}
    if choice == 13:
        return "[" * 600 + "]" * 600, {"deep"}
    if choice == 14:
        return rng.choice(["!!binary aGVsbG8=", "!!python/object:os.system ''", "!!set {a, b}", "!!omap [a: 1]",
                           "!!timestamp 2027-01-01", "!!float 1", "!!int '12'"]), {"yaml-tag"}
    if choice == 15:
        return rng.choice(["0x1F", "0o17", "1_000", "+12", "012", "1.5e3", "0b101"]), {"number-form"}
    if choice == 16:
        return '"' + "中" * rng.choice([64, 65, 1000]) + '"', {"cjk"}
    if choice == 17:
        return rng.choice(['"../../nowhere/x.csv"', '"nope.csv"', '"contacts"', '"."', '"a/../../b"']), {"path"}
    if choice == 18:
        return rng.choice(["iflytek", "callcenter", "nope", "IFLYTEK", '""']), {"ref"}
    if choice == 19:
        return rng.choice(["direct", "task", "absent", "paused", "running", "removed", "new_wave", "error"]), \
            {"enum"}
    return str(rng.choice([1, 3, 4, 50, 51, 500, 501, 10_000, 10_001, -500, 501])), {"range"}


# --- mutations on the YAML text (line based, so they keep working on whatever earlier ones left) ----------

_YAML_HUGE_INT = re.compile(r"(?<![\w\"'.])-?\d{4301,}(?![\w\"'])")
_VALUE_LINE = re.compile(r"^(\s*(?:- )?[A-Za-z_][A-Za-z0-9_]*: )(.+)$")
PROFILE_OPTIONS = ("retries", "read_timeout", "connect_timeout", "settle_window", "rate_limit", "refresh_margin",
                   "token_ttl", "max_contacts_per_task", "page_size", "max_numbers_per_call")


def _replace_value(rng: random.Random, text: str, tags: set[str], project: bool) -> tuple[str, str]:
    lines = text.split("\n")
    spots = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln) and "base_url" not in ln]
    if not spots:
        return text, "no value to replace"
    i = rng.choice(spots)
    m = _VALUE_LINE.match(lines[i])
    assert m is not None
    value, new_tags = _hostile_scalar(rng)
    key = m.group(1).strip().lstrip("- ").rstrip(": ")
    tags |= new_tags
    if project and key in PROFILE_OPTIONS and new_tags & {"non-finite", "extreme-float", "big-int"}:
        tags.add("option-nan")
    lines[i] = m.group(1) + value
    return "\n".join(lines), f"{key} = {value[:40]}"


def _add_option(rng: random.Random, text: str, tags: set[str]) -> tuple[str, str]:
    """A profile option (known or not) with a hostile value, under a random profile."""
    key = rng.choice([*PROFILE_OPTIONS, "line_separator", "status_map", "assign_types", "body_encoding",
                      "phone_as_number", "check_references", "customtaskid_prefix", "timezone", "bogus"])
    value, new_tags = _hostile_scalar(rng)
    tags |= new_tags
    if key in PROFILE_OPTIONS and new_tags & {"non-finite", "extreme-float", "big-int"}:
        tags.add("option-nan")
    anchor = rng.choice(["    type: xfyeta\n", "    type: yccall\n"])
    existing = re.compile(rf"^    {re.escape(key)}: .*$", re.MULTILINE)
    if existing.search(text) and rng.random() < 0.7:
        return existing.sub(lambda _: f"    {key}: {value}", text, count=1), f"option {key} = {value[:40]}"
    return text.replace(anchor, anchor + f"    {key}: {value}\n", 1), f"option {key} = {value[:40]}"


BENIGN = [  # edits that keep the files valid: they reach plan and the emulators
    ("recall: {count: 1, wait: 600}", ["recall: {count: 0, wait: 0}", "recall: {count: 3, wait: 86400}"]),
    ("turbo: false", ["turbo: true"]),
    ("        state: running", ["        state: paused", "        state: absent"]),
    ('windows: ["09:00-12:00", "13:30-20:00"]', ['windows: ["09:00-09:01"]', 'windows: ["08:00-21:00"]',
                                                 'windows: ["09:00-12:00", "12:00-13:00", "13:00-20:00"]']),
    ('end: "2027-03-31T20:00:00+08:00"', ['end: "2099-12-31T23:59:59+08:00"', 'end: "2027-03-01T09:00:01+08:00"']),
    ('voice: {code: "60030", speed: 100}', ['voice: {code: "60030", speed: -500}',
                                            'voice: {code: "60120", speed: 500}']),
    ("concurrency: 10", ["concurrency: 1", "concurrency: 1000"]),
    ('- rows: [["19900009999", "张先生"]]', ['- rows: [["+86 199 0000 9999", "张先生"], ["0086-199-0000-9998", "李"]]',
                                          '- rows: [["19900009999", "张先生"], ["19900009999", "重复"]]',
                                          '- rows: [["010-12345678", "座机"]]']),
    ('name: spring', ["name: a", "name: " + "s" * 63, "name: spring-2027-a1"]),
    ("    mode: direct\n", ["    mode: direct\n    state: paused\n"]),
]


def _benign(rng: random.Random, text: str) -> tuple[str, str]:
    old, news = rng.choice(BENIGN)
    if old not in text:
        return text, "benign edit with nothing to edit"
    new = rng.choice(news)
    return text.replace(old, new, 1), f"benign: {new[:50]}"


def _delete_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    return "\n".join(lines[:i] + lines[i + 1:]), f"deleted line {i + 1}"


def _duplicate_line(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    return "\n".join([*lines[:i + 1], lines[i], *lines[i + 1:]]), f"duplicated line {i + 1}"


def _unknown_key(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.split("\n")
    spots = [i for i, ln in enumerate(lines) if _VALUE_LINE.match(ln)]
    i = rng.choice(spots) if spots else 0
    indent = re.match(r"^(\s*)", lines[i]).group(1) if lines else ""  # type: ignore[union-attr]
    key = rng.choice(["bogus", "Name", "name ", "<<", "? x", "'quoted'", "1025", "true", "中文"])
    lines.insert(i + 1, f"{indent.replace('-', ' ')}{key}: 1")
    return "\n".join(lines), f"unknown key {key!r}"


def _alias_bomb(rng: random.Random, text: str, tags: set[str]) -> tuple[str, str]:
    tags.add("alias-bomb")
    levels = rng.randint(5, 9)
    bomb = ['x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        bomb.append(f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    if rng.random() < 0.5:
        return "\n".join(bomb) + "\n" + text, f"alias bomb of {levels} levels at the top"
    bomb_inline = "[" + ",".join(["*a" + str(levels - 1)] * 3) + "]"
    return "\n".join(bomb) + "\n" + text.replace('lines: ["69101338"]', f"lines: {bomb_inline}", 1), \
        f"alias bomb of {levels} levels in lines"


def _deep(rng: random.Random, text: str, tags: set[str]) -> tuple[str, str]:
    tags.add("deep")
    depth = rng.choice([100, 300, 1000, 1000, 3000]) if rng.random() < 0.3 else rng.choice([50, 100, 300])
    nested = "[" * depth + "1" + "]" * depth if rng.random() < 0.5 else "{a: " * depth + "1" + "}" * depth
    return text.replace("turbo: false", f"turbo: {nested}", 1) if "turbo: false" in text else \
        text + f"\ndeep: {nested}\n", f"nesting {depth} deep"


def _raw_bytes(rng: random.Random, data: bytes, tags: set[str]) -> tuple[bytes, str]:
    """Byte-level damage: NULs, invalid UTF-8, BOMs, other encodings, truncation."""
    choice = rng.randrange(7)
    if choice == 0:
        tags.add("nul")
        at = rng.randrange(len(data))
        return data[:at] + b"\x00" + data[at:], f"NUL byte at {at}"
    if choice == 1:
        tags.add("bad-utf8")
        at = rng.randrange(len(data))
        return data[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]) + data[at:], \
            f"invalid UTF-8 at {at}"
    if choice == 2:
        tags.add("encoding")
        enc = rng.choice(["utf-16", "utf-16-le", "utf-32", "gbk", "gb18030", "big5", "latin-1"])
        try:
            return data.decode("utf-8").encode(enc, errors="replace"), f"re-encoded as {enc}"
        except UnicodeDecodeError:
            return data, "not re-encodable"
    if choice == 3:
        tags.add("bom")
        return rng.choice([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]) + data, "BOM"
    if choice == 4:
        tags.add("truncated")
        at = rng.randrange(len(data))
        return data[:at], f"truncated at {at}"
    if choice == 5:
        tags.add("newlines")
        return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b"\x0b", b"\x85"])), "line endings"
    tags.add("tabs")
    return data.replace(b"  ", b"\t", rng.randint(1, 5)), "tabs for indentation"


def _csv_mutation(rng: random.Random, data: bytes, tags: set[str]) -> tuple[bytes, str]:
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    choice = rng.randrange(10)
    if choice == 0:
        tags.add("csv-columns")
        if len(lines) < 2:  # a header alone (an earlier mutation cut the rest): the row is a new one
            lines.append("")
        i = rng.randrange(1, max(2, len(lines) - 1))
        lines[i] = lines[i] + rng.choice([",extra", ",a,b,c", ""]) if rng.random() < 0.5 else lines[i].split(",")[0]
        return "\n".join(lines).encode(), f"row {i} with the wrong number of cells"
    if choice == 1:
        tags.add("nul")
        return text.replace("客户1", "客\x00户", 1).encode(), "NUL in a cell"
    if choice == 2:
        tags.add("giant")
        size = rng.choice([10_000, 200_000, 2_000_000])
        return (text + f"19911111111,{'x' * size}\n").encode(), f"a {size}-byte field"
    if choice == 3:
        tags.add("csv-quotes")
        return (text + '19922222222,"unclosed\n19933333333,x\n').encode(), "an unclosed quote"
    if choice == 4:
        tags.add("empty")
        return rng.choice([b"", lines[0].encode() + b"\n", b"\n\n\n"]), "empty or header only"
    if choice == 5:
        tags.add("encoding")
        enc = rng.choice(["gbk", "utf-16", "big5", "latin-1"])
        return text.encode(enc, errors="replace"), f"CSV re-encoded as {enc}"
    if choice == 6:
        tags.add("odd-phone")
        bad = rng.choice(["", "abc", "1" * 30, "+86 199 0000 0001", "０１９９", "199-0000-0002", HUGE_INT])
        return (text + f"{bad},x\n").encode(), f"phone {bad[:20]!r}"
    if choice == 7:
        tags.add("duplicate")
        return (text + "\n".join(lines[1:3]) + "\n").encode(), "duplicate rows"
    if choice == 8:
        tags.add("header")
        lines[0] = rng.choice(["", "phone,phone", "客户手机号码", "x,y,z", "\ufeff客户手机号码,姓名"])
        return "\n".join(lines).encode(), f"header {lines[0]!r}"
    tags.add("many-rows")
    n = rng.choice([10_001, 20_000])
    extra = "\n".join(f"198{i:08d},r" for i in range(n))
    return (text + extra + "\n").encode(), f"{n} more rows"


# --- generation ------------------------------------------------------------------------------------


def generate(seed: int, *, xf_url: str = SAFE_URLS[0], yc_url: str = SAFE_URLS[0]) -> Case:
    rng = random.Random(seed)
    tags: set[str] = set()
    mutations: list[str] = []
    project = _project(xf_url, yc_url)
    camp = CAMPAIGNS
    csvs = {"contacts/a.csv": _csv(rng, ["客户手机号码", "姓名"], rng.choice([1, 3, 49, 51]), 0),
            "contacts/d.csv": _csv(rng, ["客户手机号码", "姓名"], rng.choice([1, 3, 51]), 8000),
            "contacts/y.csv": _csv(rng, ["phone"], rng.choice([1, 3]), 3000)}
    raw: dict[str, bytes] = {}
    for _ in range(rng.choices([1, 2, 3, 4], weights=[5, 3, 1, 1])[0]):
        target = rng.choices(["campaign", "project", "csv", "bytes"], weights=[5, 3, 2, 1])[0]
        if target in ("campaign", "project"):
            text = camp if target == "campaign" else project
            kind = rng.choices(["benign", "value", "option", "delete", "dup", "unknown", "bomb", "deep"],
                               weights=[6 if target == "campaign" else 0, 10, 4 if target == "project" else 0,
                                        2, 2, 2, 1, 1])[0]
            if kind == "benign":
                text, what = _benign(rng, text)
            elif kind == "value":
                text, what = _replace_value(rng, text, tags, project=target == "project")
            elif kind == "option":
                text, what = _add_option(rng, text, tags)
            elif kind == "delete":
                text, what = _delete_line(rng, text)
            elif kind == "dup":
                text, what = _duplicate_line(rng, text)
            elif kind == "unknown":
                text, what = _unknown_key(rng, text)
            elif kind == "bomb":
                text, what = _alias_bomb(rng, text, tags)
            else:
                text, what = _deep(rng, text, tags)
            if target == "campaign":
                camp = text
            else:
                project = text
            mutations.append(f"{target}: {what}")
        elif target == "csv":
            name = rng.choice(sorted(csvs))
            data, what = _csv_mutation(rng, csvs[name].encode() if name not in raw else raw[name], tags)
            raw[name] = data
            mutations.append(f"{name}: {what}")
        else:
            name = rng.choice(["campaignctl.yaml", "campaigns/main.yaml"])
            current = raw.get(name) or (project if name == "campaignctl.yaml" else camp).encode("utf-8")
            data, what = _raw_bytes(rng, current, tags)
            raw[name] = data
            mutations.append(f"{name}: {what}")
    files: dict[str, bytes] = {"campaignctl.yaml": project.encode("utf-8"), "campaigns/main.yaml": camp.encode("utf-8")}
    files.update({k: v.encode("utf-8") for k, v in csvs.items()})
    files.update(raw)
    case = Case(seed, files, mutations, tags)
    case.tags.discard("huge-int")  # only an integer YAML reads as one crashes; a quoted or CSV one is text
    if any(_YAML_HUGE_INT.search(v.decode("utf-8", "replace")) for k, v in files.items() if k.endswith(".yaml")):
        case.tags.add("huge-int")
    return case


# --- running ------------------------------------------------------------------------------------------


@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"over {seconds:.0f}s")

    # pytest-timeout may have its own alarm pending: put it back afterwards, less the time spent here
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - started)))


_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.MULTILINE)


def run_case(case: Case, root: Path, cli: Callable[..., Any], allowed_urls: set[str]) -> Outcome:
    """Write ``case`` under ``root``, run validate then plan through ``cli`` (``run_cli``), classify.
    Plan runs only when every ``base_url`` of the case is one of ``allowed_urls`` (loopback)."""
    d = root / f"case{case.seed}"
    for name, data in case.files.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # plan only against the loopback URLs the case was made for (a mutation may have garbled one)
    project = case.files.get("campaignctl.yaml", b"").decode("utf-8", "replace")
    urls = set(re.findall(r"base_url:\s*(\S+)", project))
    if not urls <= allowed_urls:
        case.plan = False
    started = time.monotonic()
    validate_exit, plan_exit, verdict, detail = -1, None, "ok", ""
    try:
        with alarm(PER_CASE_SECONDS):
            res = cli("validate", str(d))
            validate_exit = res.exit_code
            outputs = [res]
            # plan loads the files as validate does: run it on every valid case and on one invalid in five
            if case.plan and (validate_exit == 0 or case.seed % 5 == 0):
                res2 = cli("plan", str(d))
                plan_exit = res2.exit_code
                outputs.append(res2)
    except CaseTimeout as exc:
        verdict, detail = "timeout", str(exc)
        outputs = []
    seconds = time.monotonic() - started
    full = ""
    if verdict == "ok":
        for res in outputs:
            if _TRACEBACK.search(res.output):
                verdict = "traceback"
            elif res.exit_code == 3 or "internal error" in res.output:
                verdict = "crash"
            elif res.exit_code not in (0, 1, 2):
                verdict = f"exit:{res.exit_code}"
            if verdict != "ok":
                full = res.output
                detail = " | ".join(ln[:200] for ln in res.output.splitlines() if "internal error" in ln
                                    or "Traceback" in ln)[:600] or res.output[-300:]
                break
    if verdict in ("crash", "traceback", "timeout"):
        known = sorted(t for t in case.tags if t in KNOWN)
        known += [tag for tag, text in KNOWN_OUTPUT.items() if text in full]
        if known:
            verdict = f"known:{known[0]}"
    return Outcome(case.seed, validate_exit, plan_exit, round(seconds, 3), verdict, case.mutations, detail)
