"""Empty sheets with the canonical headers, as CSV (UTF-8 with BOM, so Excel reads it right) or .xlsx."""

from __future__ import annotations

import csv
from pathlib import Path

from batchupdate.errors import InputError
from batchupdate.kinds import all_kinds


def write_template(kind_name: str, path: Path) -> None:
    """Write the kind's headers to PATH; the format follows PATH's suffix (.csv or .xlsx)."""
    headers = list(all_kinds()[kind_name].template_columns)
    if path.exists():
        raise InputError(f"{path} already exists; choose another path or remove it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.title = kind_name
        sheet.append(headers)
        for column in ("E", "F"):
            sheet.column_dimensions[column].width = 14
        book.save(path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerow(headers)
