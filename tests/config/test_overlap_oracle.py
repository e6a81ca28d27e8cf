"""Numbers in several running campaigns, against the reading the set operations replaced (a loop over
every number, the first campaign that has it taking the count): the same findings for random campaigns,
overlaps and do-not-call numbers, from parsed tables and from kept phone lists alike."""

from __future__ import annotations

from dataclasses import replace
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config import policy as policy_module
from reconciler.config.policy import _check_overlaps
from reconciler.config.report import Report, where
from reconciler.config.table import UNIT, ContactTable, ContactTableBuilder, LazyTable, table_digest
from reconciler.model import DesiredCampaign, Mark, PhoneList
from reconciler.policy import Policy, Suppression
from tests.helpers.builders import campaign, phones

NUMBERS = phones(10)


def _reference(report: Report, policy: Policy, running: list[DesiredCampaign]) -> None:
    suppress = policy.suppress
    first: dict[str, int] = {}
    overlaps: dict[tuple[int, int], int] = {}
    for i, c in enumerate(running):
        numbers = [r.phone for r in c.contacts.rows]
        held = suppress.labels(numbers) if suppress else {}
        for phone in numbers:
            if phone in held:
                continue
            j = first.setdefault(phone, i)
            if j != i:
                overlaps[(j, i)] = overlaps.get((j, i), 0) + 1
    for i, c in enumerate(running):
        others = [(running[b if a == i else a], n) for (a, b), n in sorted(overlaps.items()) if i in (a, b)]
        if others:
            listed = ", ".join(f"{n} with {o.name!r} ({where(o.mark.file, o.mark.line, c.mark.file)})"
                               for o, n in others)
            report.add(c.mark.file, c.mark.line, "contacts", f"{sum(n for _, n in others)} contacts are also in "
                       f"other running campaigns ({listed}); {TAIL}", "warning")


TAIL = ("they may be called once per campaign (set policy.max_dials to cap it, or "
        "policy.unique_across_campaigns: true to refuse it)")


def _unparsable() -> ContactTable:
    raise AssertionError("a table with a kept phone list was parsed")


@settings(max_examples=300, deadline=None)
@given(tables=st.lists(st.lists(st.sampled_from(NUMBERS), unique=True, max_size=8), min_size=2, max_size=5),
       blocked=st.sets(st.sampled_from(NUMBERS), max_size=2), data=st.data())
def test_overlaps_are_found_as_the_reference_loop_finds_them(tables: list[list[str]], blocked: set[str],
                                                             data: st.DataObject) -> None:
    running = [replace(campaign(f"c{i}", numbers=t), mark=Mark("campaigns.yaml", 10 * i + 3))
               for i, t in enumerate(tables)]
    policy = Policy(suppress=Suppression(phones={p: "dnc" for p in blocked}))
    expected = Report()
    _reference(expected, policy, running)
    # what it returns for the plan's caps: every number in two tables or more, do-not-call numbers too
    in_several = frozenset(p for p in NUMBERS if sum(p in t for t in tables) > 1)
    digests = {c.name: table_digest(c.contacts.rows, c.contacts.phone_index) for c in running}
    parsed = Report()
    with patch.object(policy_module, "SHARED_KEPT", 1.0):  # (the default keeps at most a quarter of all)
        found = _check_overlaps(parsed, policy, running)
    assert parsed.problems == expected.problems
    assert found is not None and (found.numbers, found.tables) == (in_several, digests)
    kept = _check_overlaps(Report(), policy, running)
    many = len(in_several) > sum(map(len, tables)) // 4
    assert kept is None if many else kept == found
    # a campaign that is not running (paused: it may send too) changes no warning; the finding takes it in
    # only when no two of all the tables share a number
    extra = data.draw(st.lists(st.sampled_from(NUMBERS), unique=True, max_size=4))
    paused = replace(campaign("p", numbers=extra, state="paused"), mark=Mark("campaigns.yaml", 99))
    also = Report()
    with patch.object(policy_module, "SHARED_KEPT", 1.0):
        found = _check_overlaps(also, policy, running, [paused])
    assert also.problems == expected.problems and found is not None
    apart = not in_several and not {p for t in tables for p in t} & set(extra)
    assert set(found.tables) == set(digests) | ({"p"} if apart else set())
    assert found.numbers == in_several  # of the running tables: the paused one is compared by the first look only
    # the first look compares the numbers' hashes: when two numbers share one (here every number does),
    # the exact check decides, and finds what the reference finds
    collided = Report()
    with patch.object(policy_module, "hash", lambda _: 0, create=True), \
            patch.object(policy_module, "SHARED_KEPT", 1.0):
        found = _check_overlaps(collided, policy, running)
    assert collided.problems == expected.problems
    assert found is not None and found.numbers == in_several
    # tables from the parse cache whose numbers come from kept lists (unchanged files): never parsed
    kept = data.draw(st.sets(st.integers(0, len(running) - 1)))
    lists = {f"d{i}": PhoneList.of(f"d{i}", tables[i]) for i in kept}
    lazy = [replace(c, contacts=replace(c.contacts, rows=LazyTable(len(tables[i]), f"d{i}", _unparsable)))
            if i in kept else c for i, c in enumerate(running)]
    offered = Report(phone_lists=lambda digests: {d: lists[d] for d in digests if d in lists})
    with patch.object(policy_module, "SHARED_KEPT", 1.0):
        found = _check_overlaps(offered, policy, lazy)
    assert offered.problems == expected.problems
    assert found is not None and found.numbers == in_several
    assert offered.listed == []  # every cached table's list was kept already


def test_a_number_in_many_running_campaigns_lists_a_few_of_them_and_counts_the_rest() -> None:
    """One number in every list (a team's own phone as a seed, say): the first campaign shares it with each
    of the others; its warning names the first 5 and counts the rest instead of listing 299 campaigns."""
    shared = NUMBERS[0]
    running = [replace(campaign(f"c{i}", numbers=[shared, NUMBERS[1 + i % 9]] if i else [shared]),
                       mark=Mark("campaigns.yaml", 10 * i + 3)) for i in range(300)]
    report = Report()
    _check_overlaps(report, Policy(), running)
    first = next(p for p in report.problems if p.line == 3)
    assert first.message.startswith("299 contacts are also in other running campaigns (1 with 'c1' (line 13), ")
    assert first.message.count(" with 'c") == 5 and "and 294 more campaigns)" in first.message
    # the other campaigns share numbers with c0 (the seed) and with the campaigns before them of the same
    # second number: each is one warning, with no more than 5 campaigns named
    assert len(report.problems) == 300
    assert all(p.message.count(" with 'c") <= 5 for p in report.problems)


def test_an_overlap_reads_the_lists_again_and_offers_each_cached_table_once() -> None:
    """The first look holds no table's numbers; when it finds two tables sharing a number, the exact check
    reads the tables again. A cached table whose list the state does not keep yet is offered once."""
    tables = []
    for numbers in (NUMBERS[:4], NUMBERS[3:7], NUMBERS[7:]):  # NUMBERS[3] in the first two
        builder = ContactTableBuilder(2, 0)
        builder.start_source("contacts.csv")
        builder.add_records([f"{n}{UNIT}x" for n in numbers], list(range(2, len(numbers) + 2)), list(numbers))
        tables.append(builder.build())
    running = [replace(campaign(f"c{i}"), contacts=replace(campaign().contacts,
                                                           rows=LazyTable(len(t), t.digest, lambda t=t: t)),
                       mark=Mark("campaigns.yaml", 10 * i + 3)) for i, t in enumerate(tables)]
    report = Report(phone_lists=lambda digests: {})
    _check_overlaps(report, Policy(), running)
    assert [p.line for p in report.problems] == [3, 13]
    assert [(x.digest, x.phones()) for x in report.listed] == [(t.digest, t.phone_list()) for t in tables]
