"""The page's HTML, drawn on the server: every value from a sheet, a file name or an error goes through ``h``.

The functions here take what to show and return text; they never read files or start anything. Tables come a
page at a time (jobs.PAGE_ROWS rows), filtered by status on the server.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from batchupdate.export import Exported
from batchupdate.kinds import all_kinds
from batchupdate.pipeline import PLAN, RUN
from batchupdate.status import Status
from batchupdate.web.jobs import DONE, INTERRUPTED, PAGE_ROWS, RUNNING, STOPPED, RowsPage, SheetRow, Upload, WebJob

STEPS = ("Upload", "Check", "Plan", "Apply", "Results")
UPLOAD_STEP, CHECK_STEP, PLAN_STEP, APPLY_STEP, RESULTS_STEP = range(5)
KIND_NAMES = {"units": "Unit outcomes", "modules": "Learning-plan modules"}
LONG_CELL = 24  # characters; longer cells may wrap, shorter ones (ids, dates, codes) never do
STATUS_ORDER = ("valid", "updated", "would-update", "unchanged", "invalid", "failed", "skipped")
DEFAULT_MODULE_STATUSES = "Enrolled, In Progress"
_CHANGE = re.compile(r"^(?P<column>[^:]+): (?P<before>.*) -> (?P<after>.*)$")


def h(value: object) -> str:
    """Escaped text for HTML content and attribute values alike."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Frame:
    """What every page shows around its body: where runs go, static file versions, this server's start."""

    target: str
    asset_version: str = "1"
    server: str = ""

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
<body data-server="{h(frame.server)}">
<a class="skip" href="#main">Skip to the page's content</a>
<header class="top">
  <a class="brand" href="/"><span class="logo" aria-hidden="true">▦</span> batchupdate</a>
  <span class="tagline">spreadsheets to aXcelerate</span>
  <span class="target {frame.target_class}" id="target" title="Plans read from and runs write to this aXcelerate">
    <span class="target-label">Target</span> <span class="target-name">{h(frame.target)}</span></span>
</header>
{stepper}
<main id="main">
<p class="notice error" id="restarted" role="alert" hidden></p>
{body}
</main>
</body>
</html>
"""


def _stepper(current: int, links: Mapping[int, str]) -> str:
    items = []
    for number, name in enumerate(STEPS):
        state = "done" if number < current else "current" if number == current else "todo"
        label = f'<span class="dot" aria-hidden="true">{"✓" if state == "done" else number + 1}</span>'
        label += f'<span class="name">{h(name)}</span>'
        if number in links and number != current:
            label = f'<a href="{h(links[number])}">{label}</a>'
        aria = ' aria-current="step"' if state == "current" else ""
        items.append(f'<li class="{state}"{aria}>{label}</li>')
    return f'<nav class="stepper" aria-label="Steps"><ol>{"".join(items)}</ol></nav>'


def home_page(
    frame: Frame,
    *,
    max_bytes: int,
    max_rows: int,
    recent: Sequence[WebJob],
    uploads: Sequence[Upload],
    names: Mapping[str, str],
    page: tuple[int, int] = (1, 1),
    problem: str | None = None,
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
      <span class="drop-hint">.csv or .xlsx, up to {h(size_text(max_bytes))} and {max_rows:,} rows</span>
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
<section class="card">
  <h2>Start from a class</h2>
  <p>No sheet yet? <a href="/export" id="export-link">Export a class's current enrolments</a> as a workbook to
  fill in: one row per student and unit (or module), as aXcelerate holds them now. Upload it here when done.</p>
</section>
{_recent(recent, uploads, names, page)}"""
    return layout(frame, "Upload", body, step=UPLOAD_STEP)


def _recent(
    recent: Sequence[WebJob], uploads: Sequence[Upload], names: Mapping[str, str], page: tuple[int, int]
) -> str:
    if not recent and not uploads:
        return ""
    rows = []
    for job in recent:
        rows.append(
            f'<tr data-job="{h(job.id)}"><td>{h(_when(job.started))}</td>'
            f'<td><a href="/jobs/{h(job.id)}">{h(names.get(job.upload_id, job.sheet.name))}</a>'
            f'<div class="muted small">sha256 {h(job.digest[:12])}</div></td>'
            f"<td>{h(job.label)}</td><td>{h(job.user or '-')}</td><td>{h(job.target)}</td>"
            f"<td>{_chips(job.counts, bare=True)}</td><td>{_state_badge(job)}</td></tr>"
        )
    for upload in uploads:
        state = _badge("invalid", "cannot be used") if upload.problem else _badge("valid", "checked")
        rows.append(
            f'<tr><td>{h(_when(upload.created))}</td><td><a href="/uploads/{h(upload.id)}">{h(upload.name)}</a>'
            f'<div class="muted small">sha256 {h(upload.digest[:12])}</div></td><td>Check</td>'
            f"<td>{h(upload.user or '-')}</td><td>offline</td><td>{_chips(upload.counts, bare=True)}</td>"
            f"<td>{state}</td></tr>"
        )
    return f"""
<section class="card">
  <h2>Jobs on this server</h2>
  <p class="muted">A run goes on when its page is closed, and every job is kept when the server restarts.</p>
  <div class="table-wrap short" tabindex="0" role="region" aria-label="Jobs on this server"><table class="rows jobs">
    <thead><tr><th>Started</th><th>Sheet</th><th>Step</th><th>Who</th><th>Target</th><th>Rows</th><th>State</th>
    </tr></thead>
    <tbody>{"".join(rows)}</tbody>
  </table></div>
  {_jobs_pager(*page)}
</section>"""


def _jobs_pager(page: int, pages: int) -> str:
    if pages == 1:
        return ""
    newer = f'<a class="button" rel="prev" href="/?page={page - 1}">Newer jobs</a>' if page > 1 else ""
    older = f'<a class="button" rel="next" href="/?page={page + 1}">Older jobs</a>' if page < pages else ""
    return f'<nav class="pager" aria-label="Pages of jobs">{newer}<span>page {page} of {pages}</span>{older}</nav>'


def check_page(
    frame: Frame,
    upload: Upload,
    *,
    rows: RowsPage | None,
    problems: Sequence[SheetRow],
    busy: WebJob | None,
    earlier: Sequence[WebJob],
    interrupted: Sequence[WebJob] = (),
    settings_problem: str | None = None,
) -> str:
    links = {UPLOAD_STEP: "/"}
    shown_problem = (
        f'<p class="notice error" role="alert" id="settings-problem">{h(settings_problem)}</p>'
        if settings_problem
        else ""
    )
    if rows is None:
        body = f"""
<section class="card">
  <h1>{h(upload.name)} cannot be used</h1>
  <p class="notice error" role="alert" id="sheet-problem">{h(upload.problem or "the sheet could not be read")}</p>
  {shown_problem}
  {_settings_form(upload)}
  <p><a class="button" href="/">Upload another file</a></p>
</section>"""
        return layout(frame, "Check", body, step=CHECK_STEP, links=links)
    numbers = rows.counts
    total = sum(numbers.values())
    bad = numbers.get("invalid", 0) + numbers.get("skipped", 0)
    if not total:
        verdict = '<p class="notice warn">The sheet has headers but no rows.</p>'
    elif bad:
        verdict = (
            f'<div class="notice warn" id="check-verdict"><p>{bad} of {total} rows will not be sent. Fix '
            "them in your spreadsheet and upload it again, or plan the valid rows now.</p>"
            f"{_problem_list(problems, bad)}</div>"
        )
    else:
        verdict = f'<p class="notice ok" id="check-verdict">All {total} rows are valid.</p>'
    action = _plan_action(upload, busy, bool(total - bad))
    cut_short = next((job for job in interrupted if job.mode == RUN), None)
    resume_instead = (
        f'<p class="notice warn" id="resume-instead">A run of this same sheet was interrupted: '
        f'<a href="/jobs/{h(cut_short.id)}">resume it</a> rather than planning it again, so that the rows it '
        "wrote keep their true before-values in one results file.</p>"
        if cut_short is not None
        else ""
    )
    body = f"""
<section class="card">
  <div class="title-row">
    <div>
      <h1>Check: {h(upload.name)}</h1>
      <p class="meta">{h(KIND_NAMES.get(upload.kind or "", upload.kind or ""))} · {h(upload.source)} ·
        {total} rows · {h(size_text(upload.size))} · checked offline, nothing sent</p>
    </div>
    {action}
  </div>
  {shown_problem}
  {resume_instead}
  {_columns_note(upload)}
  {_settings_form(upload)}
  {verdict}
  {_earlier(earlier)}
  {_filters(rows, f"/uploads/{upload.id}")}
  {_table(rows, css="check", details_header="Problem")}
  {_pager(rows, f"/uploads/{upload.id}")}
</section>"""
    return layout(frame, "Check", body, step=CHECK_STEP, links=links)


def _columns_note(upload: Upload) -> str:
    if not upload.columns:
        return ""
    mapped = "".join(
        f"<li><b>{h(column)}</b> from the header {h(repr(header))}</li>" for column, header in upload.mapped
    )
    parts = [f'<p class="columns-line" id="columns-line">{h(upload.columns)}</p>']  # the line `check` prints
    if mapped:
        parts.append(f'<div><span class="muted">Mapped:</span><ul class="inline" id="mapped">{mapped}</ul></div>')
    if upload.notes:
        parts.append('<p class="muted small">Notes go into the results file as they are; none of them is sent.</p>')
    return f'<div class="notice info" id="columns">{"".join(parts)}</div>'


def _column_names() -> list[str]:
    return list(dict.fromkeys(column.name for kind in all_kinds().values() for column in kind.columns))


def _settings_form(upload: Upload) -> str:
    """The page's --sheet, --kind, --map and --module-status: change them and the sheet is checked again."""
    settings = upload.settings
    fields = []
    if len(upload.worksheets) > 1:
        shown = settings.sheet_name or _picked(upload)
        options = "".join(
            f'<option value="{h(name)}"{" selected" if name == shown else ""}>'
            f"{h(name)}{' (has a header row)' if name in upload.fitting else ''}</option>"
            for name in upload.worksheets
        )
        fields.append(
            f'<div class="setting"><label for="sheet_name">Worksheet</label>'
            f'<select id="sheet_name" name="sheet_name">{options}</select></div>'
        )
    kinds = "".join(
        f'<option value="{h(name)}"{" selected" if settings.kind == name else ""}>{h(label)}</option>'
        for name, label in KIND_NAMES.items()
    )
    fields.append(
        '<div class="setting"><label for="settings-kind">Sheet kind</label><select id="settings-kind" name="kind">'
        f'<option value="">Tell from the column headers</option>{kinds}</select></div>'
    )
    statuses = ", ".join(settings.module_statuses) if settings.module_statuses else ""
    fields.append(
        '<div class="setting"><label for="module_statuses">Module statuses to match (modules sheets)</label>'
        f'<input id="module_statuses" name="module_statuses" value="{h(statuses)}" '
        f'placeholder="{h(DEFAULT_MODULE_STATUSES)}" aria-describedby="module-statuses-hint">'
        '<span class="muted small" id="module-statuses-hint">comma-separated, as --module-status; '
        f"blank: {h(DEFAULT_MODULE_STATUSES)}</span></div>"
    )
    chosen = {header.casefold(): column for header, column in settings.mapping}
    asked = {header: choices for header, choices in upload.questions}
    headers = list(dict.fromkeys([*asked, *upload.headers, *(header for header, _ in settings.mapping)]))
    names = _column_names()
    mapping_rows = []
    for number, header in enumerate(headers):
        current = chosen.get(header.casefold(), "")
        likely = asked.get(header, ())
        choices = [*likely, *(name for name in names if name not in likely), "note"]
        options = '<option value="">as read</option>' + "".join(
            f'<option value="{h(name)}"{" selected" if name == current else ""}>'
            f"{h('keep as a note' if name == 'note' else name)}</option>"
            for name in choices
        )
        question = f' <span class="badge st-invalid">could be {h(" or ".join(likely))}</span>' if likely else ""
        if header in asked and not likely:
            question = ' <span class="badge st-invalid">needs a choice</span>'
        mapping_rows.append(
            f'<tr><th scope="row"><label for="map-column-{number}">{h(header)}</label>{question}'
            f'<input type="hidden" name="map-header-{number}" value="{h(header)}"></th>'
            f'<td><select id="map-column-{number}" name="map-column-{number}">{options}</select></td></tr>'
        )
    mapping = ""
    if mapping_rows:
        mapping = (
            '<div class="table-wrap short" tabindex="0" role="region" aria-label="Header mapping">'
            '<table class="mapping"><thead><tr><th>Header in the sheet</th><th>Feeds the column</th></tr></thead>'
            f'<tbody>{"".join(mapping_rows)}</tbody></table></div>'
        )
    opened = " open" if upload.questions or upload.problem else ""
    return f"""<details class="settings" id="settings"{opened}>
  <summary>How the sheet is read: worksheet, kind, header mapping, module statuses</summary>
  <form method="post" action="/uploads/{h(upload.id)}/settings" id="settings-form">
    <div class="settings-fields">{"".join(fields)}</div>
    {mapping}
    <button type="submit" class="primary" id="recheck-button">Check again</button>
  </form>
</details>"""


def _picked(upload: Upload) -> str:
    """The worksheet the reader picked (its source names it), else the first."""
    return next((name for name in upload.worksheets if upload.source.startswith(f"xlsx sheet {name!r}")), "")


def _problem_list(rows: Sequence[SheetRow], bad: int) -> str:
    items = "".join(f"<li><b>Row {row.line}</b> {h(row.error)}</li>" for row in rows)
    more = f"<li>… and {bad - len(rows)} more: filter the table by status</li>" if bad > len(rows) else ""
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


def _earlier(jobs: Sequence[WebJob], title: str = "Earlier on this sheet") -> str:
    if not jobs:
        return ""
    items = "".join(
        f'<li><a href="/jobs/{h(job.id)}">{h(job.label)} at {h(_when(job.started))}</a> {_state_badge(job)}</li>'
        for job in jobs
    )
    return f'<div class="earlier"><span class="muted">{h(title)}:</span><ul>{items}</ul></div>'


def job_page(
    frame: Frame,
    job: WebJob,
    upload: Upload,
    *,
    rows: RowsPage | None,
    children: Sequence[WebJob],
    busy: WebJob | None,
) -> str:
    links = {UPLOAD_STEP: "/", CHECK_STEP: f"/uploads/{upload.id}"}
    if job.mode == PLAN:
        step, heading = PLAN_STEP, f"{job.label}: {upload.name}"
    elif job.state in (RUNNING, INTERRUPTED):
        step, heading = APPLY_STEP, f"{job.label}: {upload.name}"
    else:
        step, heading = RESULTS_STEP, f"Results: {upload.name}"
    if job.plan:
        links[PLAN_STEP] = f"/jobs/{job.plan}"
    if job.mode == PLAN and job.state == RUNNING:
        subtitle = f"Reading live data from {job.target}; nothing is sent."
    elif job.mode == PLAN:
        subtitle = f"Read live from {job.target}; nothing was sent."
    elif job.state == RUNNING:
        subtitle = f"Writing to {job.target}."
    else:
        subtitle = f"Applied to {job.target}."
    if job.only:
        subtitle += f" Only the {', '.join(sorted(job.only))} rows of the earlier run."
    who = f" by {job.user}" if job.user else ""
    parts = [
        f"""<div class="title-row"><div><h1>{h(heading)}</h1>
        <p class="meta">{h(subtitle)} Started {h(_when(job.started))}{h(who)}.</p></div>
        {_job_actions(job, busy)}</div>""",
        _progress(job),
    ]
    if job.state == INTERRUPTED:
        parts.append(
            f'<p class="notice error" role="alert" id="job-problem">This {h(job.noun)} was interrupted: '
            f"{h(job.problem or 'the server stopped')}. "
            + (
                "<b>Resume</b> goes on from where it stopped: rows already written are not sent again, and rows "
                "caught mid-write are read back from aXcelerate first.</p>"
                if job.mode == RUN
                else "<b>Resume</b> plans it again; nothing is sent.</p>"
            )
        )
    elif job.problem:
        what = "The results below hold what was done; rows not attempted are marked skipped." if job.aborted else ""
        parts.append(
            f'<p class="notice error" role="alert" id="job-problem">The {h(job.noun)} stopped: {h(job.problem)}. '
            f"{what}</p>"
        )
    if job.resumed and job.state != RUNNING:
        parts.append(
            f'<p class="notice info" id="resumed">Resumed after an interruption: {job.resumed} rows were settled '
            "from the run journal and not sent again.</p>"
        )
    if children:
        parts.append(_earlier(children, "Started from this"))
    if rows is not None:
        base = f"/jobs/{job.id}"
        parts.append(_filters(rows, base))
        css = "plan" if job.mode == PLAN else "results"
        parts.append(_table(rows, css=css, details_header="Before → after, or why not", changes=True))
        parts.append(_pager(rows, base))
    body = '<section class="card">' + "\n".join(parts) + "</section>"
    return layout(frame, job.label, body, step=step, links=links)


def _job_actions(job: WebJob, busy: WebJob | None) -> str:
    if job.state == RUNNING:
        return ""
    if busy is not None:
        return f'<p class="notice warn">Running now: <a href="/jobs/{h(busy.id)}">{h(busy.label)}</a></p>'
    if job.state == INTERRUPTED:
        so_far = (
            f'<a class="button" id="download" href="/jobs/{h(job.id)}/results" download>Download results so far</a>'
            if job.results_path.exists()
            else ""
        )
        return f"""<form method="post" action="/jobs/{h(job.id)}/resume" class="actions">{so_far}
      <button type="submit" class="primary" id="resume-button">Resume</button></form>"""
    numbers = job.counts
    if job.mode == PLAN:
        if job.state != DONE:
            return ""
        changing = numbers.get(Status.WOULD_UPDATE, 0)
        label = f"Apply {changing} change{'s' if changing != 1 else ''}" if changing else "Apply (nothing to change)"
        return f"""<form method="post" action="/jobs/{h(job.id)}/apply" class="actions">
      <a class="button" href="/uploads/{h(job.upload_id)}">Back to check</a>
      <button type="submit" class="primary" id="apply-button"{"" if changing else " disabled"}>{h(label)}</button>
    </form>"""
    download = (
        f'<a class="button" id="download" href="/jobs/{h(job.id)}/results" download '
        f'title="{h(job.results_path.name)}">Download results</a>'
    )
    rerun = ""
    failed = numbers.get(Status.FAILED, 0)
    if failed and job.headers:
        rerun = f"""<form method="post" action="/jobs/{h(job.id)}/rerun">
      <button type="submit" class="primary" id="rerun-button">Plan a re-run of {failed} failed row{
            "s" if failed != 1 else ""}</button></form>"""
    return f'<div class="actions">{download}{rerun}</div>'


def job_verdict(job: WebJob) -> tuple[str, str]:
    """The job's state as (css status, words): green only for a job that finished with nothing wrong, amber for
    one that finished with failed or invalid rows, red for one that stopped or was interrupted."""
    if job.state == RUNNING:
        return "running", f"running {job.percent}%"
    if job.state == INTERRUPTED:
        return "failed", "interrupted"
    if job.state == STOPPED:
        return "failed", "stopped"
    wrong = [f"{job.counts[status]} {status}" for status in (Status.FAILED, Status.INVALID) if job.counts.get(status)]
    if wrong:  # amber: it finished, but not every row went through
        return "problems", ", ".join(["done" if job.mode == RUN else "planned", *wrong])
    return ("updated", "done") if job.mode == RUN else ("would-update", "planned")


def _progress(job: WebJob) -> str:
    total = job.total or 0
    done = job.attempted
    css, words = job_verdict(job)
    if job.state == RUNNING:
        note = "You can close this page: the run goes on, and this address shows it again."
    elif job.state == DONE:
        note = f"Finished {_when(job.finished)} in {job.seconds:.1f} s."
    else:
        note = f"Stopped after {done} of {total} rows."
    label = f"{job.label}: {words}"
    return f"""<div class="progress-panel" id="progress-panel" data-state="{h(job.state)}" data-verdict="{h(css)}">
  <div class="progress-line">
    <progress id="progress" max="{max(total, 1)}" value="{done if total else (1 if job.state == DONE else 0)}"
      aria-labelledby="progress-label" data-state="{h(job.state)}"
      data-status-url="/jobs/{h(job.id)}/status" data-job-url="/jobs/{h(job.id)}"></progress>
    <span class="progress-text" id="progress-text">{job.percent}%</span>
  </div>
  <div role="status" aria-live="polite" aria-atomic="true" id="progress-live">
    <p class="progress-label" id="progress-label">{h(label)}</p>
    <div class="progress-meta"><span id="progress-count">{done} of {total} rows</span>
      <span class="counts" id="progress-counts">{_chips(job.counts, bare=True)}</span></div>
  </div>
  <p class="muted small" id="progress-note">{h(note)}</p>
</div>"""


def _link(base: str, status: str | None, page: int = 1) -> str:
    query = {key: value for key, value in (("status", status or ""), ("page", str(page) if page > 1 else "")) if value}
    return f"{base}?{urlencode(query)}" if query else base


def _filters(rows: RowsPage, base: str) -> str:
    numbers = rows.counts
    chips = [_filter_chip(_link(base, None), "", f"All {sum(numbers.values())}", not rows.status)]
    for status in _ordered(numbers):
        chips.append(_filter_chip(_link(base, status), status, f"{status} {numbers[status]}", status == rows.status))
    return f'<nav class="filters" aria-label="Filter rows by status">{"".join(chips)}</nav>'


def _filter_chip(href: str, status: str, label: str, active: bool) -> str:
    css = f"chip filter st-{h(status)}" if status else "chip filter"
    current = ' aria-current="true"' if active else ""
    return (
        f'<a class="{css}{" active" if active else ""}" href="{h(href)}" data-filter="{h(status)}"{current}>'
        f"{h(label)}</a>"
    )


def _pager(rows: RowsPage, base: str) -> str:
    if rows.matching == 0:
        return ""
    first = (rows.page - 1) * PAGE_ROWS + 1
    last = first + len(rows.rows) - 1
    shown = f'<span id="pager-text">Rows {first:,}-{last:,} of {rows.matching:,}</span>'
    if rows.pages == 1:
        return f'<nav class="pager" aria-label="Pages">{shown}</nav>'
    before = (
        f'<a class="button" rel="prev" href="{h(_link(base, rows.status, rows.page - 1))}">Previous</a>'
        if rows.page > 1
        else ""
    )
    after = (
        f'<a class="button" rel="next" id="next-page" href="{h(_link(base, rows.status, rows.page + 1))}">Next</a>'
        if rows.page < rows.pages
        else ""
    )
    return f'<nav class="pager" aria-label="Pages">{before}{shown} (page {rows.page} of {rows.pages}){after}</nav>'


def _chips(numbers: Mapping[str, int], *, bare: bool = False) -> str:
    chips = "".join(
        f'<span class="chip st-{h(status)}" data-status="{h(status)}"><b>{numbers[status]}</b> {h(status)}</span>'
        for status in _ordered(numbers)
    )
    return chips if bare else f'<div class="chips">{chips}</div>'


def _table(rows: RowsPage, *, css: str, details_header: str, changes: bool = False) -> str:
    """Row, status, then what matters most (the change or the problem), then the sheet's own cells."""
    students = any(row.student for row in rows.rows)
    headers = ("<th>Student</th>" if students else "") + "".join(f"<th>{h(name)}</th>" for name in rows.headers)
    body = "\n".join(_row(row, changes, students) for row in rows.rows)
    if not rows.rows:
        body = f'<tr><td colspan="{len(rows.headers) + 3}" class="muted">No rows.</td></tr>'
    return f"""<div class="table-wrap" tabindex="0" role="region" aria-label="Rows"><table class="rows {h(css)}">
<thead><tr><th class="num">Row</th><th>Status</th><th>{h(details_header)}</th>{headers}</tr></thead>
<tbody>
{body}
</tbody></table></div>"""


def _row(row: SheetRow, changes: bool, students: bool) -> str:
    cells = (f"<td>{h(row.student)}</td>" if students else "") + "".join(_cell(cell) for cell in row.cells)
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
    return _badge(*job_verdict(job))


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


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


def export_page(frame: Frame, *, values: Mapping[str, str], problem: str | None = None) -> str:
    """Class IDs in, the classes' current enrolments out as a workbook to fill in (`batchupdate export`)."""
    refusal = f'<p class="notice error" id="export-problem" role="alert">{h(problem)}</p>' if problem else ""
    kind = values.get("kind") or "units"
    kinds = "".join(
        f'<option value="{h(name)}"{" selected" if name == kind else ""}>{h(label)}</option>'
        for name, label in KIND_NAMES.items()
    )
    checked = " checked" if values.get("open_only") == "on" else ""
    formats = "".join(
        f'<option value="{value}"{" selected" if values.get("format", "xlsx") == value else ""}>{label}</option>'
        for value, label in (("xlsx", "Excel workbook (.xlsx)"), ("csv", "CSV (.csv)"))
    )
    body = f"""
<section class="card">
  <h1>Start from a class</h1>
  <p class="lead">Give the class IDs; the page reads their enrolments from {h(frame.target)} (nothing is written)
  and hands you a workbook with one row per student and unit (or module). Fill in what changes, then upload it.</p>
  {refusal}
  <form method="post" action="/export" id="export-form">
    <div class="settings-fields">
      <div class="setting"><label for="export-kind">Sheet kind</label>
        <select id="export-kind" name="kind">{kinds}</select></div>
      <div class="setting"><label for="classes">Class IDs</label>
        <input id="classes" name="classes" value="{h(values.get("classes", ""))}" required
          placeholder="31001, 31002" aria-describedby="classes-hint">
        <span class="muted small" id="classes-hint">separated by commas or spaces</span></div>
      <div class="setting"><label for="export-format">File</label>
        <select id="export-format" name="format">{formats}</select></div>
    </div>
    <div class="settings-fields">
      <div class="setting"><label><input type="checkbox" name="open_only" id="open_only"{checked}>
        Units: only those without a final outcome yet</label></div>
      <div class="setting"><label for="export-statuses">Module statuses to match (modules)</label>
        <input id="export-statuses" name="module_statuses" value="{h(values.get("module_statuses", ""))}"
          placeholder="{h(DEFAULT_MODULE_STATUSES)}"></div>
    </div>
    <button type="submit" class="primary" id="export-button">Export</button>
  </form>
</section>"""
    return layout(frame, "Start from a class", body)


def exported_page(frame: Frame, exported: Exported, ids: Sequence[int], download: str) -> str:
    classes = f"class {ids[0]}" if len(set(ids)) == 1 else f"{len(set(ids))} classes"
    notes = []
    if exported.left_out:
        notes.append(f"Left out {exported.left_out} units that already hold a final outcome.")
    notes += [f"Class {class_id}: no enrolments found; check the class ID." for class_id in exported.empty_classes]
    shown = "".join(f"<li>{h(note)}</li>" for note in notes)
    body = f"""
<section class="card">
  <h1>Exported {len(exported.rows)} rows of {h(classes)}</h1>
  <p class="meta">{h(KIND_NAMES.get(exported.kind, exported.kind))}, read from {h(frame.target)}; nothing was
    written.</p>
  {f'<ul class="notice warn" id="export-notes">{shown}</ul>' if shown else ""}
  <p class="actions"><a class="button" id="export-download" href="{h(download)}" download>Download
    {h(download.rsplit("/", 1)[-1])}</a> <a class="button" href="/">Upload it when filled in</a>
    <a class="button" href="/export">Export other classes</a></p>
  <p class="muted">Uploaded untouched, it checks valid and plans no change: only what you fill in is sent.</p>
</section>"""
    return layout(frame, "Exported", body)
