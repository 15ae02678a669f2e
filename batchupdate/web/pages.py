"""The page's HTML, drawn on the server: every value from a sheet, a file name or an error goes through ``h``.

The functions here take what to show and return text; they never read files or start anything.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from batchupdate.pipeline import PLAN, RUN
from batchupdate.status import Status
from batchupdate.web.jobs import RUNNING, SheetRow, SheetView, Upload, WebJob

STEPS = ("Upload", "Check", "Plan", "Apply", "Results")
UPLOAD_STEP, CHECK_STEP, PLAN_STEP, APPLY_STEP, RESULTS_STEP = range(5)
KIND_NAMES = {"units": "Unit outcomes", "modules": "Learning-plan modules"}
LONG_CELL = 24  # characters; longer cells may wrap, shorter ones (ids, dates, codes) never do
STATUS_ORDER = ("valid", "updated", "would-update", "unchanged", "invalid", "failed", "skipped")
_CHANGE = re.compile(r"^(?P<column>[^:]+): (?P<before>.*) -> (?P<after>.*)$")


def h(value: object) -> str:
    """Escaped text for HTML content and attribute values alike."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Frame:
    """What every page shows around its body: where runs go, and static file versions."""

    target: str
    asset_version: str = "1"

    @property
    def target_class(self) -> str:
        if self.target.startswith("sandbox"):
            return "target-sandbox"
        if self.target.startswith("STAGING"):
            return "target-staging"
        if self.target.startswith("PRODUCTION"):
            return "target-production"
        return "target-other"


def layout(
    frame: Frame, title: str, body: str, *, step: int | None = None, links: Mapping[int, str] | None = None
) -> str:
    stepper = _stepper(step, links or {}) if step is not None else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(title)} · batchupdate</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css?v={h(frame.asset_version)}">
<script src="/static/app.js?v={h(frame.asset_version)}" defer></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/"><span class="logo" aria-hidden="true">▦</span> batchupdate</a>
  <span class="tagline">spreadsheets to aXcelerate</span>
  <span class="target {frame.target_class}" title="Plans read from and runs write to this aXcelerate">
    <span class="target-label">Target</span> {h(frame.target)}</span>
</header>
{stepper}
<main>
{body}
</main>
</body>
</html>
"""


def _stepper(current: int, links: Mapping[int, str]) -> str:
    items = []
    for number, name in enumerate(STEPS):
        state = "done" if number < current else "current" if number == current else "todo"
        label = f'<span class="dot">{"✓" if state == "done" else number + 1}</span><span class="name">{h(name)}</span>'
        if number in links and number != current:
            label = f'<a href="{h(links[number])}">{label}</a>'
        aria = ' aria-current="step"' if state == "current" else ""
        items.append(f'<li class="{state}"{aria}>{label}</li>')
    return f'<nav class="stepper" aria-label="Steps"><ol>{"".join(items)}</ol></nav>'


def home_page(
    frame: Frame, *, max_bytes: int, recent: Sequence[WebJob], uploads: Sequence[Upload], problem: str | None = None
) -> str:
    refusal = f'<p class="notice error" id="upload-problem" role="alert">{h(problem)}</p>' if problem else ""
    hidden = "" if problem else '<p class="notice error" id="upload-problem" role="alert" hidden></p>'
    body = f"""
<section class="card">
  <h1>Upload a spreadsheet</h1>
  <p class="lead">Drop your unit outcomes or learning-plan modules sheet here. It is checked first; nothing is sent
  to aXcelerate until you have seen the plan and chosen <b>Apply</b>.</p>
  {refusal}{hidden}
  <form id="upload-form" class="upload" method="post" action="/uploads" enctype="multipart/form-data"
        data-max-bytes="{max_bytes}">
    <label class="dropzone" for="sheet">
      <span class="drop-icon" aria-hidden="true">⇪</span>
      <span class="drop-main">Drop a CSV or Excel file here, or <u>choose one</u></span>
      <span class="drop-hint">.csv or .xlsx, up to {h(size_text(max_bytes))}</span>
      <span class="chosen" id="chosen"></span>
      <input type="file" id="sheet" name="sheet" accept=".csv,.xlsx" required>
    </label>
    <div class="form-row">
      <label for="kind">Sheet kind</label>
      <select id="kind" name="kind">
        <option value="">Tell from the column headers</option>
        <option value="units">Unit outcomes</option>
        <option value="modules">Learning-plan modules</option>
      </select>
      <button type="submit" class="primary" id="check-button">Check sheet</button>
    </div>
  </form>
</section>
{_recent(recent, uploads)}"""
    return layout(frame, "Upload", body, step=UPLOAD_STEP)


def _recent(recent: Sequence[WebJob], uploads: Sequence[Upload]) -> str:
    if not recent and not uploads:
        return ""
    rows = []
    for job in recent:
        rows.append(
            f'<tr><td>{h(_time(job.started))}</td><td><a href="/jobs/{h(job.id)}">{h(job.upload.name)}</a></td>'
            f"<td>{h(job.label)}</td><td>{_state_badge(job)}</td></tr>"
        )
    shown = {job.upload.id for job in recent}
    for upload in uploads:
        if upload.id not in shown:
            state = _badge("invalid", "cannot be used") if upload.problem else _badge("valid", "checked")
            rows.append(
                f'<tr><td>{h(_time(upload.created))}</td><td><a href="/uploads/{h(upload.id)}">{h(upload.name)}</a>'
                f"</td><td>Check</td><td>{state}</td></tr>"
            )
    return f"""
<section class="card">
  <h2>Recent on this server</h2>
  <p class="muted">A run goes on when its page is closed; open it here again.</p>
  <div class="table-wrap short"><table class="rows">
    <thead><tr><th>Started</th><th>Sheet</th><th>Step</th><th>State</th></tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table></div>
</section>"""


def check_page(frame: Frame, upload: Upload, *, busy: WebJob | None, earlier: Sequence[WebJob]) -> str:
    links = {UPLOAD_STEP: "/"}
    if upload.problem is not None or upload.checked is None:
        body = f"""
<section class="card">
  <h1>{h(upload.name)} cannot be used</h1>
  <p class="notice error" role="alert" id="sheet-problem">{h(upload.problem or "the sheet could not be read")}</p>
  <p><a class="button" href="/">Upload another file</a></p>
</section>"""
        return layout(frame, "Check", body, step=CHECK_STEP, links=links)
    checked = upload.checked
    view = checked.view
    numbers = view.counts
    bad = numbers.get("invalid", 0) + numbers.get("skipped", 0)
    if not view.rows:
        verdict = '<p class="notice warn">The sheet has headers but no rows.</p>'
    elif bad:
        verdict = (
            f'<div class="notice warn" id="check-verdict"><p>{bad} of {len(view.rows)} rows will not be sent. Fix '
            "them in your spreadsheet and upload it again, or plan the valid rows now.</p>"
            f"{_problem_list(view.rows)}</div>"
        )
    else:
        verdict = f'<p class="notice ok" id="check-verdict">All {len(view.rows)} rows are valid.</p>'
    action = _plan_action(upload, busy, bool(len(view.rows) - bad))
    body = f"""
<section class="card">
  <div class="title-row">
    <div>
      <h1>Check: {h(upload.name)}</h1>
      <p class="meta">{h(KIND_NAMES.get(checked.kind, checked.kind))} · {h(checked.source)} ·
        {len(view.rows)} rows · {h(size_text(upload.size))} · checked offline, nothing sent</p>
    </div>
    {action}
  </div>
  {_chips(numbers)}
  {verdict}
  {_earlier(earlier)}
  {_table(view, css="check", details_header="Problem")}
</section>"""
    return layout(frame, "Check", body, step=CHECK_STEP, links=links)


def _problem_list(rows: Sequence[SheetRow], shown: int = 8) -> str:
    problems = [row for row in rows if row.error]
    items = "".join(f"<li><b>Row {row.line}</b> {h(row.error)}</li>" for row in problems[:shown])
    more = f"<li>… and {len(problems) - shown} more, highlighted in the table</li>" if len(problems) > shown else ""
    return f'<ul class="problems">{items}{more}</ul>'


def _plan_action(upload: Upload, busy: WebJob | None, anything_valid: bool) -> str:
    if busy is not None:
        return (
            f'<p class="notice warn">A {h(busy.noun)} of this sheet has not finished yet: '
            f'<a href="/jobs/{h(busy.id)}">follow it</a>.</p>'
        )
    if not anything_valid:
        return '<a class="button" href="/">Upload a corrected file</a>'
    return f"""<form method="post" action="/uploads/{h(upload.id)}/plan" class="actions">
      <a class="button" href="/">Upload another file</a>
      <button type="submit" class="primary" id="plan-button">Plan changes</button>
    </form>"""


def _earlier(jobs: Sequence[WebJob]) -> str:
    if not jobs:
        return ""
    items = "".join(
        f'<li><a href="/jobs/{h(job.id)}">{h(job.label)} at {h(_time(job.started))}</a> {_state_badge(job)}</li>'
        for job in sorted(jobs, key=lambda job: job.started)
    )
    return f'<div class="earlier"><span class="muted">Earlier on this sheet:</span><ul>{items}</ul></div>'


def job_page(
    frame: Frame,
    job: WebJob,
    *,
    view: SheetView | None,
    status_filter: str | None,
    children: Sequence[WebJob],
    busy: WebJob | None,
) -> str:
    links = {UPLOAD_STEP: "/", CHECK_STEP: f"/uploads/{job.upload.id}"}
    if job.mode == PLAN:
        step, heading = PLAN_STEP, f"Plan: {job.upload.name}"
    elif job.state == RUNNING:
        step, heading = APPLY_STEP, f"{job.label}: {job.upload.name}"
    else:
        step, heading = RESULTS_STEP, f"Results: {job.upload.name}"
    if job.mode == RUN and job.parent:
        links[APPLY_STEP] = f"/jobs/{job.parent}"
    if job.mode == PLAN and job.state != RUNNING:
        subtitle = f"Read live from {frame.target}; nothing was sent."
    elif job.mode == PLAN:
        subtitle = f"Reading live data from {frame.target}; nothing is sent."
    elif job.state == RUNNING:
        subtitle = f"Writing to {frame.target}."
    else:
        subtitle = f"Applied to {frame.target}."
    if job.job.only:
        subtitle += f" Only the {', '.join(sorted(job.job.only))} rows of the earlier run."
    parts = [
        f"""<div class="title-row"><div><h1>{h(heading)}</h1>
        <p class="meta">{h(subtitle)} Started {h(_time(job.started))}.</p></div>{_job_actions(job, busy)}</div>""",
        _progress(job),
    ]
    if job.problem:
        stopped = f"{h(job.label)} stopped: {h(job.problem)}"
        parts.append(f'<p class="notice error" role="alert" id="job-problem">{stopped}</p>')
    if job.report is not None and job.report.aborted:
        parts.append(
            f'<p class="notice error" role="alert" id="job-problem">The run stopped: {h(job.report.aborted)}. '
            "The results below hold what was done; rows not attempted are marked skipped.</p>"
        )
    if children:
        parts.append(_earlier(children).replace("Earlier on this sheet", "Started from these results"))
    if view is not None:
        parts.append(_filters(view, status_filter))
        shown = view if not status_filter else SheetView(
            view.headers, tuple(row for row in view.rows if row.status == status_filter)
        )
        css = "plan" if job.mode == PLAN else "results"
        parts.append(_table(shown, css=css, details_header="Before → after, or why not", changes=True))
    body = '<section class="card">' + "\n".join(parts) + "</section>"
    return layout(frame, job.label, body, step=step, links=links)


def _job_actions(job: WebJob, busy: WebJob | None) -> str:
    if job.state == RUNNING or job.report is None:
        return ""
    numbers = job.report.counts
    if job.mode == PLAN:
        changing = numbers.get(Status.WOULD_UPDATE, 0)
        if busy is not None:
            return f'<p class="notice warn">Running now: <a href="/jobs/{h(busy.id)}">{h(busy.label)}</a></p>'
        label = f"Apply {changing} change{'s' if changing != 1 else ''}" if changing else "Apply (nothing to change)"
        return f"""<form method="post" action="/uploads/{h(job.upload.id)}/run" class="actions">
      <a class="button" href="/uploads/{h(job.upload.id)}">Back to check</a>
      <button type="submit" class="primary" id="apply-button"{"" if changing else " disabled"}>{h(label)}</button>
    </form>"""
    download = (
        f'<a class="button" id="download" href="/jobs/{h(job.id)}/results" download '
        f'title="{h(job.results_path.name)}">Download results</a>'
    )
    rerun = ""
    if numbers.get(Status.FAILED, 0) and busy is None:
        rerun = f"""<form method="post" action="/jobs/{h(job.id)}/rerun">
      <button type="submit" class="primary" id="rerun-button">Re-run {numbers[Status.FAILED]} failed row{
            "s" if numbers[Status.FAILED] != 1 else ""}</button></form>"""
    return f'<div class="actions">{download}{rerun}</div>'


def _progress(job: WebJob) -> str:
    total = job.total if job.total is not None else 0
    done = job.done if job.state == RUNNING else total
    state = job.state if job.report is None else "done"
    if job.state == RUNNING:
        note = "You can close this page: the run goes on, and this address shows it again."
    elif job.report is not None:
        note = f"Finished {_time(job.finished)} in {job.report.seconds:.1f} s."
    else:
        note = ""
    return f"""<div class="progress-panel" id="progress-panel">
  <div class="progress-line">
    <progress id="progress" max="{max(total, 1)}" value="{done if total else (1 if state == "done" else 0)}"
      data-state="{h(state)}" data-status-url="/jobs/{h(job.id)}/status"></progress>
    <span class="progress-text" id="progress-text">{job.percent}%</span>
  </div>
  <div class="progress-meta"><span id="progress-count">{done} of {total} rows</span>
    <span class="counts" id="progress-counts">{_chips(job.counts, bare=True)}</span></div>
  <p class="muted small" id="progress-note">{h(note)}</p>
</div>"""


def _filters(view: SheetView, status_filter: str | None) -> str:
    numbers = view.counts
    chips = [_filter_chip("", f"All {len(view.rows)}", not status_filter)]
    for status in _ordered(numbers):
        chips.append(_filter_chip(status, f"{status} {numbers[status]}", status == status_filter))
    return f'<nav class="filters" aria-label="Filter rows by status">{"".join(chips)}</nav>'


def _filter_chip(status: str, label: str, active: bool) -> str:
    href = f"?status={h(status)}" if status else "?"
    css = f"chip filter st-{h(status)}" if status else "chip filter"
    return f'<a class="{css}{" active" if active else ""}" href="{href}" data-filter="{h(status)}">{h(label)}</a>'


def _chips(numbers: Mapping[str, int], *, bare: bool = False) -> str:
    chips = "".join(
        f'<span class="chip st-{h(status)}" data-status="{h(status)}"><b>{numbers[status]}</b> {h(status)}</span>'
        for status in _ordered(numbers)
    )
    return chips if bare else f'<div class="chips">{chips}</div>'


def _table(view: SheetView, *, css: str, details_header: str, changes: bool = False) -> str:
    """Row, status, then what matters most (the change or the problem), then the sheet's own cells."""
    headers = "".join(f"<th>{h(name)}</th>" for name in view.headers)
    rows = "\n".join(_row(row, changes) for row in view.rows)
    if not view.rows:
        rows = f'<tr><td colspan="{len(view.headers) + 3}" class="muted">No rows.</td></tr>'
    return f"""<div class="table-wrap"><table class="rows {h(css)}">
<thead><tr><th class="num">Row</th><th>Status</th><th>{h(details_header)}</th>{headers}</tr></thead>
<tbody>
{rows}
</tbody></table></div>"""


def _row(row: SheetRow, changes: bool) -> str:
    cells = "".join(_cell(cell) for cell in row.cells)
    details = _changes(row.changes) if changes else ""
    if row.error:
        details += f'<div class="error">{h(row.error)}</div>'
    elif row.status == Status.UNCHANGED:
        details = '<span class="muted">already so: nothing sent</span>'
    return (
        f'<tr class="st-{h(row.status)}" data-status="{h(row.status)}" data-line="{row.line}">'
        f'<td class="num">{row.line}</td><td>{_badge(row.status)}</td><td class="details">{details}</td>{cells}</tr>'
    )


def _cell(text: str) -> str:
    return f'<td class="wrap">{h(text)}</td>' if len(text) > LONG_CELL else f"<td>{h(text)}</td>"


def parse_changes(text: str) -> list[tuple[str, str, str]]:
    """'outcome: 30 (CNA) -> 20 (C); end_date: ...' as (column, before, after) triples."""
    found = []
    for part in (piece.strip() for piece in text.split("; ")):
        match = _CHANGE.match(part)
        if match:
            found.append((match["column"], match["before"], match["after"]))
        elif part:
            found.append((part, "", ""))
    return found


def _changes(text: str) -> str:
    items = []
    for column, before, after in parse_changes(text):
        if not before and not after:
            items.append(f"<li>{h(column)}</li>")
            continue
        items.append(
            f'<li><span class="field">{h(column)}</span> <span class="{_before_class(before)}">{h(before)}</span>'
            f' <span class="arrow" aria-label="becomes">→</span> <span class="after">{h(after)}</span></li>'
        )
    return f'<ul class="change-list">{"".join(items)}</ul>' if items else ""


def _before_class(before: str) -> str:
    return "before blank" if before == "(blank)" else "before"


def _badge(status: str, label: str | None = None) -> str:
    return f'<span class="badge st-{h(status)}">{h(label or status)}</span>'


def _state_badge(job: WebJob) -> str:
    if job.state == RUNNING:
        return _badge("running", f"running {job.percent}%")
    if job.report is None:
        return _badge("failed", "stopped")
    if job.report.aborted:
        return _badge("failed", "stopped early")
    return _badge("updated" if job.mode == RUN else "would-update", "done")


def message_page(frame: Frame, title: str, message: str, *, back: str = "/", back_label: str = "Back") -> str:
    body = f"""<section class="card"><h1>{h(title)}</h1>
<p class="notice error" role="alert">{h(message)}</p>
<p><a class="button" href="{h(back)}">{h(back_label)}</a></p></section>"""
    return layout(frame, title, body)


def _ordered(numbers: Mapping[str, int]) -> Iterable[str]:
    known = [status for status in STATUS_ORDER if numbers.get(status)]
    return known + sorted(status for status in numbers if status not in STATUS_ORDER and numbers[status])


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def _time(moment: dt.datetime | None) -> str:
    return f"{moment:%H:%M:%S}" if moment else ""
