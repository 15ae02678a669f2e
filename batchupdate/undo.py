"""Turn a results file back into a sheet that restores the before-values of every `updated` row.

The undo sheet is an ordinary input sheet: `batchupdate run` applies it like any other. Only the
fields a row changed are restored; a field that was blank before cannot be blanked by a sheet
(blank means "leave as it is"), so such a field is reported rather than silently skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from batchupdate.errors import InputError
from batchupdate.kinds import detect_kind, known_headers
from batchupdate.sheet import Sheet, neutralise, read_sheet, unneutralise
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
    sheet = read_sheet(results, known_headers=known_headers())
    kind = detect_kind(sheet, kind_name)
    cells = _columns(sheet, ["row", "status", "changes", *(f"before_{name}" for name in kind.changes)])
    sources = {undo: _column(sheet, source) for undo, source in kind.undo_columns}
    path = out or default_undo_path(results)
    undo = UndoSheet(path=path, kind=kind.name)
    lines: list[list[str]] = []
    for record in sheet.frame.map(unneutralise).to_dict("records"):
        if _text(record[cells["status"]]) != Status.UPDATED:
            continue
        line = _text(record[cells["row"]])
        changed = [part.split(":", 1)[0].strip() for part in _text(record[cells["changes"]]).split(";")]
        restored: dict[str, str] = {}
        for column in kind.changes:
            if column not in changed:
                continue
            before = _text(record[cells[f"before_{column}"]])
            cell = kind.restore(column, before)
            if cell is None:
                shown = before or "blank"
                undo.not_restored.append(f"row {line}: {column} was {shown} before; restore it in aXcelerate by hand")
            else:
                restored[column] = cell
        if restored:
            ids = [_text(record[header]) for header in sources.values()]
            lines.append([*ids, *(restored.get(column, "") for column in kind.changes), line])
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*sources, *kind.changes, "undo_of_row"])
        writer.writerows([neutralise(cell) for cell in line] for line in lines)
    undo.rows = len(lines)
    return undo


def _columns(sheet: Sheet, names: list[str]) -> dict[str, str]:
    return {name: _column(sheet, name) for name in names}


def _column(sheet: Sheet, name: str) -> str:
    header = sheet.header_for(name)
    if header is None:
        raise InputError(
            f"{sheet.path.name} is not a results file of batchupdate (it has no {name} column); "
            "give the .results.csv file a run wrote"
        )
    return header


def _text(cell: object) -> str:
    return "" if cell is None else str(cell).strip()
