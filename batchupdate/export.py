"""Export a class's current enrolments as a sheet to fill in and feed to `run`: one row per student and unit
(or module), the outcome, access and dates as aXcelerate holds them now.

The lookups are the kind's own (``Kind.holdings``): the same class listings or reports a run of those rows
makes. The names beside the ids (student_name, class_name, unit_name, current_access) are read back as notes
(columns.EXPORT_NOTES), so a workbook exported and run untouched sends no write.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from batchupdate.client import Api
from batchupdate.errors import InputError
from batchupdate.kinds import new_kind
from batchupdate.kinds.learning_plan import ModuleEnrolment
from batchupdate.kinds.units import UnitEnrolment
from batchupdate.sheet import neutralise
from batchupdate.workbook import FillIn, outcome_value, write_workbook

EXPORT_FORMATS = (".xlsx", ".csv")
UNIT_COLUMNS = (
    "contact_id",
    "student_name",
    "class_id",
    "class_name",
    "unit_code",
    "unit_name",
    "outcome",
    "start_date",
    "end_date",
)
MODULE_COLUMNS = (
    "contact_id",
    "student_name",
    "class_id",
    "class_name",
    "module_name",
    "access",
    "current_access",
    "start_date",
    "end_date",
)
# Outcomes that are not final: an --open-only export keeps units holding one of these, or none.
OPEN_OUTCOMES = frozenset({"70", "85"})  # CA (continuing activity), NYS (not yet started)
ACCESS_SHOWN = {"true": "unlocked", "false": "locked", "": "none"}


@dataclass(frozen=True)
class Exported:
    """What an export holds: its rows (in class, student, unit order) and the classes that gave none."""

    kind: str
    headers: tuple[str, ...]
    rows: list[list[object]] = field(repr=False)
    empty_classes: tuple[int, ...] = ()
    left_out: int = 0  # units left out by --open-only


def default_export_path(kind_name: str, class_ids: Sequence[int], today: dt.date) -> Path:
    """units-<first class>-<YYYY-MM-DD>.xlsx (modules-... for modules) in the working folder."""
    return Path(f"{kind_name}-{class_ids[0]}-{today.isoformat()}.xlsx")


def check_export_path(path: Path) -> None:
    """InputError unless the path ends in .xlsx or .csv and holds nothing yet (a filled-in export is not lost)."""
    if path.suffix.lower() not in EXPORT_FORMATS:
        shown = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise InputError(
            f"{path.name}: an export is written as .xlsx or .csv, not as {shown}; name it e.g. {path.stem}.xlsx"
        )
    if path.exists():
        raise InputError(f"{path} already exists (it may be filled in); give another path with -o, or remove it")


async def export_rows(
    kind_name: str,
    class_ids: Sequence[int],
    api: Api,
    *,
    open_only: bool = False,
    statuses: Sequence[str] | None = None,
) -> Exported:
    """Look up the classes' current enrolments and turn them into the export's rows."""
    if not class_ids:
        raise InputError("name at least one class with --class ID")
    if open_only and kind_name != "units":
        raise InputError("--open-only is for units exports (it leaves out units that hold a final outcome)")
    kind: Any = new_kind(kind_name)
    await kind.prepare(api, statuses)  # modules: the report's fields and --module-status; units: refuses it
    records = await kind.holdings(api, list(dict.fromkeys(class_ids)))
    headers = UNIT_COLUMNS if kind_name == "units" else MODULE_COLUMNS
    rows, left_out = [], 0
    for record in records:
        if open_only and record.outcome not in (None, "", *OPEN_OUTCOMES):
            left_out += 1
            continue
        rows.append(_unit_row(record) if kind_name == "units" else _module_row(record))
    seen = {record.class_id for record in records}
    empty = tuple(class_id for class_id in dict.fromkeys(class_ids) if class_id not in seen)
    return Exported(kind_name, headers, rows, empty, left_out)


def _unit_row(unit: UnitEnrolment) -> list[object]:
    return [
        unit.contact_id,
        unit.student_name,
        unit.class_id,
        unit.class_name,
        unit.unit_code,
        unit.unit_name,
        outcome_value(unit.outcome),
        unit.start_date,
        unit.end_date,
    ]


def _module_row(module: ModuleEnrolment) -> list[object]:
    current = "" if module.access is None else ACCESS_SHOWN.get(module.access, module.access)
    return [
        module.contact_id,
        module.student_name,
        module.class_id,
        module.class_name,
        module.module_name,
        "",  # blank: leave the access as it is; pick unlocked, locked or clear to change it
        current,
        module.start_date,
        module.end_date,
    ]


def write_export(exported: Exported, target: Path | IO[bytes], *, csv_format: bool = False) -> None:
    """Write the export as a fill-in workbook (or CSV) to a path or a binary stream."""
    as_csv = csv_format or (isinstance(target, Path) and target.suffix.lower() == ".csv")
    if not as_csv:
        classes = ", ".join(dict.fromkeys(str(row[2]) for row in exported.rows))
        note = f"Exported from aXcelerate on {dt.date.today():%d/%m/%Y}: classes {classes}." if classes else ""
        write_workbook(
            FillIn(exported.kind, exported.headers, exported.rows, protect=True, instructions=[note] if note else []),
            target,
        )
        return
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(exported.headers)
    for row in exported.rows:
        writer.writerow([_csv_cell(cell) for cell in row])
    data = text.getvalue().encode("utf-8-sig")
    if isinstance(target, Path):
        target.write_bytes(data)
    else:
        target.write(data)


def _csv_cell(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.date):
        return cell.isoformat()  # YYYY-MM-DD: never read month first
    return neutralise(str(cell))


async def export_workbook(
    kind_name: str,
    class_ids: Sequence[int],
    api: Api,
    path_or_buffer: Path | IO[bytes],
    *,
    open_only: bool = False,
    statuses: Sequence[str] | None = None,
    csv_format: bool = False,
) -> Exported:
    """Look up the classes and write the export: the one call the CLI and the web page make."""
    if isinstance(path_or_buffer, Path):
        check_export_path(path_or_buffer)
    exported = await export_rows(kind_name, class_ids, api, open_only=open_only, statuses=statuses)
    if not exported.rows:
        shown = ", ".join(str(class_id) for class_id in dict.fromkeys(class_ids))
        several = "," in shown
        classes = f"classes {shown} have" if several else f"class {shown} has"
        if open_only and exported.left_out:
            raise InputError(
                f"{classes} no open units ({exported.left_out} hold a final outcome); leave out --open-only"
            )
        ids = "IDs" if several else "ID"
        raise InputError(f"{classes} no {kind_name[:-1]} enrolments to export; check the class {ids} in aXcelerate")
    if isinstance(path_or_buffer, Path):
        path_or_buffer.parent.mkdir(parents=True, exist_ok=True)
        temporary = path_or_buffer.with_name(path_or_buffer.name + ".tmp")
        try:
            with temporary.open("wb") as handle:
                write_export(exported, handle, csv_format=path_or_buffer.suffix.lower() == ".csv")
            temporary.replace(path_or_buffer)
        finally:
            temporary.unlink(missing_ok=True)
    else:
        write_export(exported, path_or_buffer, csv_format=csv_format)
    return exported
