"""``results export``: a campaign's own rows followed by the outcome columns, streamed.

The rows are the campaign's contact rows in file order with its columns in
order, then :data:`OUTCOME_COLUMNS`. Rows are read and written a chunk at a
time (``status.outcomes_by_row``): a million rows never sit in memory.

CSV: UTF-8 with a header; ``answered`` is ``true``/``false``, and every
outcome column is empty where nothing is known (not dialed yet). JSON: one
array of objects (one per line), the campaign's columns as strings,
``answered`` true/false/null, durations and ``tries`` as numbers (null when
unknown), the other outcome columns as strings (``""`` when unknown).
"""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from reconciler.model import DesiredCampaign
from reconciler.results.outcomes import ContactOutcome
from reconciler.results.status import outcomes_by_row
from reconciler.state.base import StateStore

__all__ = ["OUTCOME_COLUMNS", "export"]

OUTCOME_COLUMNS = ("result_code", "result", "answered", "duration_ring", "duration_call", "tries", "intention",
                   "recording_url")


def _csv_cells(o: ContactOutcome) -> list[str]:
    if not o.dialed:
        return [""] * len(OUTCOME_COLUMNS)

    def num(value: int | None) -> str:
        return "" if value is None else str(value)

    answered = "" if o.answered is None else ("true" if o.answered else "false")
    return [o.result_code, o.result, answered, num(o.duration_ring), num(o.duration_call), str(o.tries),
            o.intention, o.recording_url]


def _json_values(o: ContactOutcome) -> list[Any]:
    if not o.dialed:
        return ["", "", None, None, None, None, "", ""]
    return [o.result_code, o.result, o.answered, o.duration_ring, o.duration_call, o.tries, o.intention,
            o.recording_url]


def export(campaign: DesiredCampaign, store: StateStore | None, out: TextIO, fmt: str = "csv") -> int:
    """Write the campaign's rows with their outcomes to ``out``; returns the number of rows."""
    if store is not None:
        store.rejoin_results()
    columns = list(campaign.contacts.columns)
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns + list(OUTCOME_COLUMNS))
        for row, outcome in outcomes_by_row(campaign, store):
            writer.writerow(list(row.values) + _csv_cells(outcome))
            count += 1
        return count
    names = columns + list(OUTCOME_COLUMNS)
    out.write("[")
    for row, outcome in outcomes_by_row(campaign, store):
        item = dict(zip(names, [*row.values, *_json_values(outcome)], strict=True))
        out.write(("\n" if count == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
