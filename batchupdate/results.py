"""Write the results file: one line per input row, in input order, its status what really happened.

Lines are appended and flushed as rows finish, so a crash keeps what was done; at the end the file
is rewritten in input order. A results file read back as input drops these columns again.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from batchupdate.kinds.base import Change
from batchupdate.sheet import header_key, neutralise
from batchupdate.status import RESULT_STATUSES, Status

COMMON_COLUMNS = ("row", "status", "error", "changes")


@dataclass(frozen=True)
class RowResult:
    """What happened to one input row."""

    index: int
    line: int
    status: str
    error: str = ""
    changes: Sequence[Change] = ()
    found: Mapping[str, str] = field(default_factory=dict)  # resolved ids and before-values

    def with_status(self, status: str, error: str = "") -> RowResult:
        return RowResult(self.index, self.line, status, error, self.changes, self.found)

    def cells(self, result_columns: Sequence[str]) -> list[str]:
        changes = "; ".join(str(change) for change in self.changes)
        return [str(self.line), self.status, self.error, changes, *(self.found.get(c, "") for c in result_columns)]


def result_headers() -> frozenset[str]:
    """Every column a results file adds, as header keys, for any kind."""
    from batchupdate.kinds import all_kinds

    names = set(COMMON_COLUMNS)
    for kind in all_kinds().values():
        names.update(kind.result_columns)
    return frozenset(header_key(name) for name in names)


def default_results_path(sheet: Path) -> Path:
    """SHEET-stem.results.csv beside the sheet."""
    return sheet.with_name(f"{sheet.stem}.results.csv")


def keep_previous(path: Path, now: dt.datetime) -> Path | None:
    """Rename an earlier results file that recorded writes, so its before-values are never lost."""
    if not path.exists():
        return None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        recorded_writes = any(row.get("status") == Status.UPDATED for row in reader)
    if not recorded_writes:
        return None
    kept = path.with_name(f"{path.stem}.{now:%Y%m%d-%H%M%S}{path.suffix}")
    path.rename(kept)
    return kept


class ResultsWriter:
    """Appends each finished row at once; ``finish`` rewrites the file in input order."""

    def __init__(self, path: Path, input_headers: Sequence[str], result_columns: Sequence[str]) -> None:
        self.path = path
        self.headers = [*input_headers, *COMMON_COLUMNS, *result_columns]
        self.result_columns = tuple(result_columns)
        self._lines: dict[int, list[str]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = path.open("w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._handle)
        self._csv.writerow(self.headers)

    def add(self, result: RowResult, input_cells: Sequence[str]) -> None:
        line = [neutralise(cell) for cell in (*input_cells, *result.cells(self.result_columns))]
        self._lines[result.index] = line
        if self._handle is not None:
            self._csv.writerow(line)
            self._handle.flush()

    def finish(self) -> None:
        """Rewrite all lines in input order, atomically."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.headers)
            writer.writerows(self._lines[index] for index in sorted(self._lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def counts(results: Iterable[RowResult]) -> dict[str, int]:
    """How many rows ended in each status, in the contract's order."""
    tally: dict[str, int] = dict.fromkeys(RESULT_STATUSES, 0)
    for result in results:
        tally[result.status] = tally.get(result.status, 0) + 1
    return {status: number for status, number in tally.items() if number}
