"""Turn a results file back into a sheet that restores the before-values of every `updated` row.

The undo sheet is an ordinary input sheet: `batchupdate run` applies it like any other. Only the
fields a row changed are restored; a field that was blank before cannot be blanked by a sheet
(blank means "leave as it is"), so such a field is reported rather than silently skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from batchupdate.columns import named_columns
from batchupdate.errors import InputError
from batchupdate.kinds import detect_kind
from batchupdate.results import ResultLine, kept_results, read_results
from batchupdate.sheet import header_key, neutralise
from batchupdate.status import Status


@dataclass
class UndoSheet:
    """What the undo sheet holds, and what it could not restore."""

    path: Path
    kind: str
    rows: int = 0
    not_restored: list[str] = field(default_factory=list)


def default_undo_path(results: Path) -> Path:
    return results.with_name(f"{results.stem}.undo.csv")


def write_undo_sheet(results: Path, out: Path | None = None, kind_name: str | None = None) -> UndoSheet:
    """Write the undo sheet for RESULTS; InputError when RESULTS is not a results file."""
    recorded = read_results(results)
    kind = detect_kind(recorded.sheet, kind_name)
    has = {header_key(header) for header in recorded.sheet.headers}
    # The input's own columns may be under an alias ("Instance ID" for class_id), as the run read them.
    inputs = named_columns(recorded.input_headers, kind)
    needed = (*(f"before_{column}" for column in kind.changes), *(source for _, source in kind.undo_columns))
    missing = [name for name in needed if header_key(name) not in has and name not in inputs]
    if missing:
        raise InputError(
            f"{results.name} is not a results file of a {kind.name} run (it has no {missing[0]} column); "
            "give the .results file a run wrote"
        )
    updated = [record for record in recorded.lines() if record.status == Status.UPDATED]
    if not updated:
        raise InputError(nothing_to_undo(results))
    path = out or default_undo_path(results)
    undo = UndoSheet(path=path, kind=kind.name)
    lines: list[list[str]] = []
    for record in updated:
        restored: dict[str, str] = {}
        for column in kind.changes:
            if column not in record.changed_columns:
                continue
            before = record.found.get(header_key(f"before_{column}"), "").strip()
            cell = kind.restore(column, before)
            if cell is None:
                shown = before or "blank"
                undo.not_restored.append(
                    f"row {record.line}: {column} was {shown} before; restore it in aXcelerate by hand"
                )
            else:
                restored[column] = cell
        if restored:
            ids = [_value(record, inputs, source) for _, source in kind.undo_columns]
            lines.append([*ids, *(restored.get(column, "") for column in kind.changes), str(record.line)])
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(name for name, _ in kind.undo_columns), *kind.changes, "undo_of_row"])
        writer.writerows([neutralise(cell) for cell in line] for line in lines)
    undo.rows = len(lines)
    return undo


def nothing_to_undo(results: Path) -> str:
    """Why a results file with no `updated` row gives no undo sheet, and where the writes to undo are."""
    said = f"{results.name} records no updated row, so it has nothing to undo and no undo sheet was written"
    kept = kept_results(results)
    if not kept:
        return said
    others = f" (the newest of {len(kept)} kept there)" if len(kept) > 1 else ""
    return (
        f"{said}; the writes of the run before are in the results file it kept aside, {kept[0].name}{others}: "
        f"batchupdate undo {kept[0]}"
    )


def _value(record: ResultLine, inputs: dict[str, int], column: str) -> str:
    """A column of the line, whether the run added it (resolved ids) or the sheet had it (contact_id)."""
    key = header_key(column)
    if key in record.found:
        return record.found[key].strip()
    return record.inputs[inputs[column]].strip()
