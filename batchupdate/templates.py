"""Empty sheets with the canonical headers, as CSV (UTF-8 with BOM, so Excel reads it right) or .xlsx."""

from __future__ import annotations

import csv
from pathlib import Path

from batchupdate.errors import InputError
from batchupdate.kinds import all_kinds

TEMPLATE_FORMATS = (".csv", ".xlsx")


def write_template(kind_name: str, path: Path) -> None:
    """Write the kind's headers to PATH; the format follows PATH's suffix (.csv, or .xlsx with drop-downs)."""
    headers = list(all_kinds()[kind_name].template_columns)
    suffix = path.suffix.lower()
    if suffix not in TEMPLATE_FORMATS:
        shown = f"a {path.suffix} file" if path.suffix else "a file without an extension"
        raise InputError(
            f"{path.name}: a template is written as .csv or .xlsx, not as {shown}; "
            f"name it e.g. {path.stem}.xlsx or {path.stem}.csv"
        )
    if path.exists():
        raise InputError(f"{path} already exists; choose another path or remove it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        from batchupdate.workbook import FillIn, write_workbook

        write_workbook(FillIn(kind_name, headers), path)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerow(headers)
