"""Config directory → validated, normalised :class:`DesiredState`, or every problem.

Pipeline per file: read (UTF-8), parse with line marks
(:mod:`.yamlmarks`), check ``version: 1`` first (stop for that file
otherwise), JSON Schema (:mod:`.schema`, errors mapped to lines), then the
semantic rules and the model values (:mod:`.project`, :mod:`.campaigns`,
:mod:`.contacts`). Nothing stops at the first fault: all problems are
collected and sorted by file and line, like terraform's diagnostics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from reconciler.config.campaigns import build_campaign
from reconciler.config.discovery import discover
from reconciler.config.environments import check_environments
from reconciler.config.policy import check_campaigns
from reconciler.config.project import ProjectResult, build_project
from reconciler.config.report import PhoneLists, Report, YamlFile, bytes_digest, listed, where
from reconciler.config.schema import SchemaKind, schema_issues
from reconciler.config.yamlmarks import format_path, parse
from reconciler.errors import ConfigError, Problem
from reconciler.model import DesiredCampaign, DesiredState, PhoneList, Project, SourceDigest

__all__ = ["LoadResult", "load", "load_or_raise", "load_project"]

SUPPORTED_VERSION = 1
T = TypeVar("T")


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load` found.

    ``state`` is None when any error-severity problem exists. ``problems``
    holds errors and warnings, sorted by file and line. ``files`` lists every
    file read (YAML and contact sources), for plan staleness checks.
    """

    state: DesiredState | None
    problems: tuple[Problem, ...]
    files: tuple[Path, ...]
    # Contact sources parsed now that a later run may take from the cache (see ``load``).
    parsed: tuple[SourceDigest, ...] = field(default=())
    # Phone lists of cached tables read now, for the state to keep (see ``policy.check_campaigns``).
    listed: tuple[PhoneList, ...] = field(default=())
    # The digest of each file of ``files`` read whole, by path (``Report.file_digests``).
    file_digests: Mapping[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity != "error")


def load(directory: Path, cache: Mapping[str, SourceDigest] | None = None,
         phone_lists: PhoneLists | None = None) -> LoadResult:
    """Read and check a config directory; never raises for bad input.

    Without ``cache`` every contact source is parsed (``validate``). With
    one (earlier parses by source key, from the state), a campaign whose CSV
    sources are byte for byte as cached is not parsed: its warnings come from
    the cache and its rows are parsed only if something reads them
    (``config.table.LazyTable``); the parses made now are in
    ``LoadResult.parsed``, for the caller to cache. ``phone_lists`` gives the
    kept numbers of cached tables, which the check across running campaigns
    reads instead of parsing them; the lists it had to read by parsing are in
    ``LoadResult.listed``.
    """
    report = Report(cache=cache, phone_lists=phone_lists)
    files: list[Path] = []
    found = discover(Path(directory))
    if found.problem is not None:
        report.add(str(found.root), 0, "", found.problem)
        return LoadResult(None, report.sorted(), ())
    for extra in found.ambiguous[1:]:
        report.add(str(extra), 0, "", f"both {found.ambiguous[0].name} and {extra.name} exist; keep one")
    for skipped in found.unreadable:
        report.add(skipped, 0, "", "cannot list this directory; its files were not checked", "warning")

    project: ProjectResult | None = None
    if found.project is None:
        report.add(str(found.root / "campaignctl.yaml"), 0, "",
                   f"project file campaignctl.yaml not found in {str(found.root)!r}")
    else:
        pyf = _read_yaml(found.project, "project", report, files)
        if pyf is not None:
            project_file = found.project
            project = _guarded(report, pyf.file, lambda: build_project(pyf, found.root, project_file))
            if project is not None:
                files.extend(project.files)
            _guarded(report, pyf.file, lambda: check_environments(pyf))

    campaigns: list[DesiredCampaign] = []
    names: dict[str, list[tuple[YamlFile, int]]] = defaultdict(list)
    for path in found.campaigns:
        cyf = _read_yaml(path, "campaign", report, files)
        if cyf is None:
            continue
        yf = cyf
        items = yf.doc.value.get("campaigns")
        if not isinstance(items, list):
            continue
        lines = yf.item_lines(("campaigns",))  # each campaign's own line, looked up once for the file
        for index, raw in enumerate(items):
            if isinstance(raw, dict) and isinstance(raw.get("name"), str) and yf.usable(("campaigns", index, "name")):
                names[raw["name"]].append((yf, index))
            result = _guarded(
                report,
                yf.file,
                lambda: build_campaign(
                    yf,  # noqa: B023 - called at once
                    index,  # noqa: B023
                    raw,  # noqa: B023
                    project.project if project else None,
                    project.broken_profiles if project else set(),
                    line=lines[index] if index < len(lines) else None,  # noqa: B023
                ),
            )
            if result is not None:
                files.extend(result.files)
                if result.campaign is not None:
                    campaigns.append(result.campaign)

    for name, places in names.items():
        if len(places) < 2:
            continue
        for yf, index in places:
            others = (where(o.file, o.doc.key_line(("campaigns", i, "name")), yf.file)
                      for o, i in places if o is not yf or i != index)  # (listed lazily: only the first few)
            also = listed(others, len(places) - 1)
            yf.error(("campaigns", index, "name"), f"campaign name {name!r} is not unique (also at {also})")

    shared = None
    if project is not None:
        shared = _guarded(report, str(project.project.file),
                          lambda: check_campaigns(report, project.project, campaigns))
    problems = report.sorted()
    if project is None or any(p.severity == "error" for p in problems):
        return LoadResult(None, problems, tuple(dict.fromkeys(files)), file_digests=report.file_digests)
    ordered = tuple(campaigns)
    return LoadResult(DesiredState(project.project, ordered, shared), problems, tuple(dict.fromkeys(files)),
                      tuple(report.parsed), tuple(report.listed), report.file_digests)


def load_project(directory: Path) -> Project | None:
    """Only the project file, when it is valid (where the state is, before the campaigns are read)."""
    report = Report()
    found = discover(Path(directory))
    if found.problem is not None or found.project is None:
        return None
    pyf = _read_yaml(found.project, "project", report, [])
    if pyf is None:
        return None
    project_file = found.project
    result = _guarded(report, pyf.file, lambda: build_project(pyf, found.root, project_file))
    if result is None or report.errors:
        return None
    return result.project


def load_or_raise(directory: Path) -> DesiredState:
    """The desired state, or :class:`ConfigError` carrying every problem (warnings too)."""
    result = load(directory)
    if result.state is None:
        raise ConfigError(result.problems)
    return result.state


def _guarded(report: Report, file: str, build: Callable[[], T]) -> T | None:
    """Run one builder; an unexpected exception becomes a problem, not a traceback."""
    try:
        return build()
    except Exception as exc:  # a bug in campaignctl; keep the run going and say so
        report.add(file, 0, "", f"internal error while checking this file ({type(exc).__name__}: {exc}); "
                   "please report it")
        return None


def _read_yaml(path: Path, kind: SchemaKind, report: Report, files: list[Path]) -> YamlFile | None:
    """Read, parse, version-check and schema-check one YAML file."""
    shown = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.add(shown, 0, "", f"cannot read file: {exc.strerror or exc}")
        return None
    files.append(path)
    report.file_digests[shown] = bytes_digest(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        report.add(shown, line, "", f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save YAML files as UTF-8")
        return None
    doc, issues = parse(text)
    for issue in issues:
        report.add(shown, issue.line, _field(issue.path), issue.message)
    if doc is None:
        return None
    what = "version: 1 and providers:" if kind == "project" else "version: 1 and campaigns:"
    if doc.value is None:
        report.add(shown, 1, "", f"the file is empty; expected a mapping with {what}")
        return None
    if not isinstance(doc.value, dict):
        report.add(shown, doc.line(()), "", f"expected a mapping with {what} at the top level")
        return None
    version = doc.value.get("version")
    if "version" not in doc.value:
        report.add(shown, doc.line(()), "version", f"missing 'version: {SUPPORTED_VERSION}' (checked first)")
        return None
    if version != SUPPORTED_VERSION or isinstance(version, bool) or not isinstance(version, int):
        if isinstance(version, str) and version.strip() == str(SUPPORTED_VERSION):
            message = f"version must be the number {SUPPORTED_VERSION}, not the string {version!r}"
        elif isinstance(version, int | float) and not isinstance(version, bool):
            message = f"unsupported version {doc.text(('version',), version)}: this campaignctl reads version " \
                      f"{SUPPORTED_VERSION}"
        else:
            message = f"unsupported version {version!r}: this campaignctl reads version {SUPPORTED_VERSION}"
        report.add(shown, doc.key_line(("version",)), "version", message)
        return None
    yf = YamlFile(shown, doc, report)
    found, bad = schema_issues(doc, kind)
    yf.bad = bad
    for item in found:
        report.add(shown, item.line, _field(item.path), item.message)
    return yf


def _field(path: tuple[str | int, ...]) -> str:
    return format_path(path)
