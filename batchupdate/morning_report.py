"""What one nightly run did, as data, and as the page staff read the next morning (HTML or Markdown).

The page is one self-contained file: no script, no external assets, links to the archived files relative to
where the page lies, and every cell from a sheet escaped (a sheet is data, never markup).
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchupdate.exits import Exit
from batchupdate.status import PROBLEMS, Status

# What became of each sheet file.
APPLIED = "applied"  # run to the end; every row updated or unchanged
HAD_PROBLEMS = "had problems"  # run to the end; some rows invalid, failed or skipped
REJECTED = "rejected"  # could not be read as a sheet; moved to the rejected folder
REPEAT = "repeat"  # same bytes as a sheet processed before; archived, not applied
ABORTED = "aborted"  # the run stopped on it (bad tokens, API unreachable); left in the inbox
SHEET_STATUSES = (APPLIED, HAD_PROBLEMS, REJECTED, REPEAT, ABORTED)
ROW_STATUSES = (Status.UPDATED, Status.UNCHANGED, Status.INVALID, Status.FAILED, Status.SKIPPED)
SHOWN_PROBLEMS = 50
FORMATS = ("html", "md")


@dataclass(frozen=True)
class ProblemRow:
    """A row that was invalid, failed or skipped: its line in the sheet, why, and its cells as the sheet had them."""

    line: int
    status: str
    error: str
    cells: tuple[str, ...]


@dataclass(frozen=True)
class SheetOutcome:
    """What became of one file from the inbox."""

    name: str
    status: str
    digest: str = ""
    kind: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    location: Path | None = None  # where the file is now: archive, rejected folder or (aborted) the inbox
    results: Path | None = None
    note: str = ""  # why it was rejected, what it repeats, why the run stopped
    columns: tuple[str, ...] = ()  # the sheet's own headers, for the problem rows
    problems: tuple[ProblemRow, ...] = ()  # the first SHOWN_PROBLEMS of them
    problem_total: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class NightlyReport:
    """One night: every sheet's outcome and what was left alone, with the exit code it adds up to."""

    inbox: Path
    started: dt.datetime
    finished: dt.datetime
    target: str
    sheets: tuple[SheetOutcome, ...] = ()
    not_reached: tuple[str, ...] = ()  # sheets left in the inbox because the run stopped before them
    arriving: tuple[str, ...] = ()  # modified too recently: perhaps still being written; next run
    in_use: tuple[str, ...] = ()  # another batchupdate run held the sheet's lock; next run
    ignored: tuple[str, ...] = ()  # neither .csv nor .xlsx; left where they are
    report_path: Path | None = None
    log_path: Path | None = None

    def having(self, status: str) -> list[SheetOutcome]:
        return [sheet for sheet in self.sheets if sheet.status == status]

    @property
    def aborted(self) -> SheetOutcome | None:
        return next(iter(self.having(ABORTED)), None)

    @property
    def exit_code(self) -> int:
        """3 when the run stopped; 1 when a sheet had problem rows or was rejected; else 0 (repeats included)."""
        if self.aborted:
            return Exit.STOPPED
        return Exit.PROBLEMS if self.having(HAD_PROBLEMS) or self.having(REJECTED) else Exit.OK

    @property
    def row_counts(self) -> dict[str, int]:
        """Rows by status over every results file written tonight."""
        totals: dict[str, int] = {}
        for sheet in self.sheets:
            for status, number in sheet.counts.items():
                totals[status] = totals.get(status, 0) + number
        return totals

    @property
    def left_in_inbox(self) -> list[str]:
        return [sheet.name for sheet in self.having(ABORTED)] + list(self.not_reached)

    def summary(self) -> dict[str, Any]:
        """The one JSON line for the scheduler's log."""
        return {
            "inbox": str(self.inbox),
            "started": self.started.isoformat(timespec="seconds"),
            "target": self.target,
            "sheets": len(self.sheets) + len(self.not_reached),
            "applied": len(self.having(APPLIED)) + len(self.having(HAD_PROBLEMS)),
            "had_problems": len(self.having(HAD_PROBLEMS)),
            "rejected": len(self.having(REJECTED)),
            "repeats": len(self.having(REPEAT)),
            "aborted": self.aborted is not None,
            "left_in_inbox": len(self.left_in_inbox),
            "still_arriving": len(self.arriving),
            "in_use": len(self.in_use),
            "ignored": len(self.ignored),
            "rows": self.row_counts,
            "report": str(self.report_path) if self.report_path else None,
            "log": str(self.log_path) if self.log_path else None,
            "exit": int(self.exit_code),
        }


def report_path_for(folder: Path, started: dt.datetime, report_format: str) -> Path:
    """reports/YYYY-MM-DD-HHMMSS.html (or .md), never one that exists already."""
    stem = f"{started:%Y-%m-%d-%H%M%S}"
    candidate, number = folder / f"{stem}.{report_format}", 2
    while candidate.exists():
        candidate, number = folder / f"{stem}-{number}.{report_format}", number + 1
    return candidate


def write_report(report: NightlyReport, path: Path, report_format: str) -> Path:
    """Write the morning report page to ``path``."""
    render = render_html if report_format == "html" else render_markdown
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(render(report, path.parent), encoding="utf-8")
    os.replace(temporary, path)
    return path


def verdict(report: NightlyReport) -> str:
    """The report's first sentence: can staff stop reading here?"""
    if report.aborted is not None:
        waiting = len(report.left_in_inbox)
        return (
            f"The run stopped at {report.aborted.name}: {report.aborted.note}. "
            f"{waiting} sheet{'s' if waiting != 1 else ''} stay in the inbox for the next run; fix the cause "
            "(tokens, network) and they are tried again."
        )
    if not report.sheets:
        return "Nothing arrived in the inbox; nothing was applied."
    problems, rejected = len(report.having(HAD_PROBLEMS)), len(report.having(REJECTED))
    if problems or rejected:
        parts = [f"{problems} with rows that were not applied"] if problems else []
        parts += [f"{rejected} rejected (could not be read)"] if rejected else []
        return "Some sheets need attention: " + " and ".join(parts) + "."
    repeats = len(report.having(REPEAT))
    repeated = f"{repeats} repeat{'s' if repeats != 1 else ''} of a sheet applied before, not applied again"
    if len(report.sheets) == repeats:
        return f"Nothing new to apply: {repeated}."
    return "Every sheet was applied cleanly" + (f"; {repeated}." if repeats else ".")


def leftovers(report: NightlyReport) -> list[tuple[str, Sequence[str]]]:
    """Files the run did not take tonight, grouped by why."""
    groups = [
        ("Left in the inbox for the next run (the run stopped before them)", report.not_reached),
        ("Still arriving (changed too recently); the next run takes them", report.arriving),
        ("In use by another batchupdate run; the next run takes them", report.in_use),
        ("Not a .csv or .xlsx file, left where it is", report.ignored),
    ]
    return [(title, names) for title, names in groups if names]


def link(target: Path, base: Path) -> str:
    """A URL for ``target`` relative to the folder the report lies in."""
    relative = Path(os.path.relpath(target, base)).as_posix()
    return urllib.parse.quote(relative)


def rerun_command(sheet: SheetOutcome) -> str:
    """The command that re-runs a sheet's problem rows from its archived results file."""
    if sheet.results is None:
        return ""
    path = str(sheet.results)
    shown = f'"{path}"' if any(character.isspace() for character in path) else path
    return f"batchupdate run {shown} --only {','.join(sorted(PROBLEMS))}"


# --- HTML ---------------------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330;
       margin: 2rem auto; max-width: 80rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d5d9e0; padding-bottom: .2rem; }
.meta { color: #5a6272; margin-top: 0; }
.verdict { padding: .7rem 1rem; border-radius: .3rem; background: #f2f4f7; border-left: .3rem solid #8a94a6; }
.verdict.ok { background: #e9f6ed; border-color: #2f8a4c; }
.verdict.attention { background: #fff6e0; border-color: #c98a00; }
.verdict.stopped { background: #fdeceb; border-color: #c0392b; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d5d9e0; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; border-radius: .25rem; padding: .05rem .4rem; white-space: nowrap; }
.applied { background: #e3f4e8; color: #1b6b34; }
.had-problems { background: #fff0cc; color: #7a5200; }
.rejected, .aborted { background: #fde4e2; color: #9b1c13; }
.repeat { background: #e8eefc; color: #27469b; }
code { background: #f2f4f7; padding: .05rem .3rem; border-radius: .2rem; }
.more { color: #5a6272; font-style: italic; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _a(target: Path | None, base: Path, label: str | None = None) -> str:
    if target is None:
        return ""
    return f'<a href="{_e(link(target, base))}">{_e(label or target.name)}</a>'


def _verdict_class(report: NightlyReport) -> str:
    return {0: "ok", 1: "attention", 3: "stopped"}.get(report.exit_code, "")


def render_html(report: NightlyReport, base: Path) -> str:
    """The morning report as one HTML page; ``base`` is the folder it will be saved in."""
    title = f"batchupdate nightly {report.started:%Y-%m-%d}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Target: {_e(report.target)} &middot; inbox {_e(report.inbox)} &middot; '
        f"{report.started:%Y-%m-%d %H:%M:%S} to {report.finished:%H:%M:%S}</p>",
        f'<p class="verdict {_verdict_class(report)}">{_e(verdict(report))}</p>',
    ]
    if report.sheets:
        parts += _html_sheet_table(report, base)
    for sheet in report.sheets:
        if sheet.problems:
            parts += _html_problems(sheet, base)
    rejected = report.having(REJECTED)
    if rejected:
        parts.append("<h2>Rejected files</h2><ul>")
        parts += [
            f"<li>{_a(sheet.location, base, sheet.name)}: {_e(sheet.note)} "
            f"(moved to {_e(sheet.location.parent if sheet.location else '')}; fix it and drop it in again)</li>"
            for sheet in rejected
        ]
        parts.append("</ul>")
    for title_text, names in leftovers(report):
        parts.append(f"<h2>{_e(title_text)}</h2><ul>")
        parts += [f"<li>{_e(name)}</li>" for name in names]
        parts.append("</ul>")
    if report.log_path:
        parts.append(f'<p class="meta">Log of the run: {_a(report.log_path, base)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_sheet_table(report: NightlyReport, base: Path) -> list[str]:
    head = "".join(f"<th>{_e(status)}</th>" for status in ROW_STATUSES)
    parts = [
        "<h2>Sheets</h2>",
        f"<table><thead><tr><th>Sheet</th><th>Kind</th><th>Status</th><th>Rows</th>{head}"
        "<th>Results</th><th>Note</th></tr></thead><tbody>",
    ]
    for sheet in report.sheets:
        numbers = "".join(f'<td class="number">{sheet.counts.get(status, 0) or ""}</td>' for status in ROW_STATUSES)
        css = sheet.status.replace(" ", "-")
        parts.append(
            f"<tr><td>{_a(sheet.location, base, sheet.name)}</td><td>{_e(sheet.kind)}</td>"
            f'<td><span class="status {css}">{_e(sheet.status)}</span></td>'
            f'<td class="number">{sheet.rows if sheet.results else ""}</td>{numbers}'
            f"<td>{_a(sheet.results, base)}</td><td>{_e(sheet.note)}</td></tr>"
        )
    parts.append("</tbody></table>")
    return parts


def _html_problems(sheet: SheetOutcome, base: Path) -> list[str]:
    head = "".join(f"<th>{_e(column)}</th>" for column in sheet.columns)
    parts = [
        f"<h2>{_e(sheet.name)}: rows not applied</h2>",
        f"<table><thead><tr><th>row</th><th>status</th><th>error</th>{head}</tr></thead><tbody>",
    ]
    for problem in sheet.problems:
        cells = "".join(f"<td>{_e(cell)}</td>" for cell in problem.cells)
        parts.append(
            f'<tr><td class="number">{problem.line}</td><td>{_e(problem.status)}</td><td>{_e(problem.error)}</td>'
            f"{cells}</tr>"
        )
    parts.append("</tbody></table>")
    hidden = sheet.problem_total - len(sheet.problems)
    if hidden > 0:
        parts.append(f'<p class="more">and {hidden} more in {_a(sheet.results, base)}</p>')
    parts.append(
        f"<p>Fix what the errors ask (in aXcelerate, or in the results file), then re-run just these rows: "
        f"<code>{_e(rerun_command(sheet))}</code></p>"
    )
    return parts


# --- Markdown -----------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!])")


def _m(text: object) -> str:
    """A cell as Markdown text: one line, its markup characters escaped, & left unable to form an entity."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat).replace("&", "&amp;")


def _md_link(target: Path | None, base: Path, label: str | None = None) -> str:
    if target is None:
        return ""
    return f"[{_m(label or target.name)}]({link(target, base)})"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_markdown(report: NightlyReport, base: Path) -> str:
    """The morning report as Markdown; ``base`` is the folder it will be saved in."""
    lines = [
        f"# batchupdate nightly {report.started:%Y-%m-%d}",
        "",
        f"Target: {_m(report.target)} · inbox {_m(report.inbox)} · "
        f"{report.started:%Y-%m-%d %H:%M:%S} to {report.finished:%H:%M:%S}",
        "",
        f"**{_m(verdict(report))}**",
        "",
    ]
    if report.sheets:
        lines += ["## Sheets", ""]
        lines.append(_md_row(["Sheet", "Kind", "Status", "Rows", *ROW_STATUSES, "Results", "Note"]))
        lines.append(_md_row(["---"] * (6 + len(ROW_STATUSES))))
        for sheet in report.sheets:
            numbers = [str(sheet.counts.get(status, 0) or "") for status in ROW_STATUSES]
            lines.append(
                _md_row(
                    [
                        _md_link(sheet.location, base, sheet.name),
                        _m(sheet.kind),
                        _m(sheet.status),
                        str(sheet.rows) if sheet.results else "",
                        *numbers,
                        _md_link(sheet.results, base),
                        _m(sheet.note),
                    ]
                )
            )
        lines.append("")
    for sheet in report.sheets:
        if sheet.problems:
            lines += _md_problems(sheet, base)
    rejected = report.having(REJECTED)
    if rejected:
        lines += ["## Rejected files", ""]
        lines += [f"- {_md_link(sheet.location, base, sheet.name)}: {_m(sheet.note)}" for sheet in rejected]
        lines.append("")
    for title_text, names in leftovers(report):
        lines += [f"## {_m(title_text)}", "", *(f"- {_m(name)}" for name in names), ""]
    if report.log_path:
        lines += [f"Log of the run: {_md_link(report.log_path, base)}", ""]
    return "\n".join(lines)


def _md_problems(sheet: SheetOutcome, base: Path) -> list[str]:
    lines = [f"## {_m(sheet.name)}: rows not applied", ""]
    lines.append(_md_row(["row", "status", "error", *(_m(column) for column in sheet.columns)]))
    lines.append(_md_row(["---"] * (3 + len(sheet.columns))))
    for problem in sheet.problems:
        lines.append(_md_row([str(problem.line), _m(problem.status), _m(problem.error), *map(_m, problem.cells)]))
    hidden = sheet.problem_total - len(sheet.problems)
    if hidden > 0:
        lines += ["", f"*and {hidden} more in {_md_link(sheet.results, base)}*"]
    lines += ["", f"Fix what the errors ask, then re-run just these rows: `{rerun_command(sheet)}`", ""]
    return lines
