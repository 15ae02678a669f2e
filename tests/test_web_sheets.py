"""What the page offers in place of the command line's options, and how it stays light on big sheets:
worksheets, header mapping, module statuses, paged tables, the row limit, file names in any language."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl
import pytest

from batchupdate.sandbox import RunningSandbox
from batchupdate.web.jobs import PAGE_ROWS, biggest_worksheet, safe_name, worksheet_rows
from tests.fakes import SAMPLES, app_client, press, rows_of, upload, wait_for, write_csv


@pytest.fixture
def web(sandbox: RunningSandbox, tmp_path: Path) -> Iterator[httpx.Client]:
    with app_client(sandbox, tmp_path / "web-data") as client:
        yield client


def sample_rows() -> tuple[list[str], list[list[str]]]:
    with (SAMPLES / "unit-outcomes.csv").open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def two_sheet_workbook(path: Path, second: str = "Outcomes", first: str = "Read me") -> Path:
    """Instructions (or another term's outcomes) first, the outcomes on the second worksheet."""
    header, rows = sample_rows()
    book = openpyxl.Workbook()
    book.active.title = first
    if first == "Read me":
        book.active.append(["Fill in the Outcomes sheet, then upload this file."])
    else:
        book.active.append(header)
        book.active.append(rows[0])
    outcomes = book.create_sheet(second)
    outcomes.append(header)
    for row in rows:
        outcomes.append(row)
    book.save(path)
    return path


def test_the_worksheet_with_a_header_row_is_picked_and_another_can_be_chosen(
    web: httpx.Client, tmp_path: Path
) -> None:
    picked = upload(web, two_sheet_workbook(tmp_path / "term.xlsx"))
    assert "picked by its header row over &#x27;Read me&#x27;" in picked.text
    assert '<option value="Outcomes" selected>Outcomes (has a header row)</option>' in picked.text

    both = upload(web, two_sheet_workbook(tmp_path / "terms.xlsx", second="Term 4", first="Term 3"))
    assert 'id="sheet-problem"' in both.text and "2 worksheets hold a header row" in both.text
    chosen = web.post(f"{both.url.path}/settings", data={"sheet_name": "Term 4", "kind": ""})

    assert chosen.status_code == 200 and "Check: terms.xlsx" in chosen.text
    assert "xlsx sheet &#x27;Term 4&#x27;" in chosen.text
    assert len(rows_of(chosen.text, "valid")) == 28
    assert '<option value="Term 4" selected>' in chosen.text
    term3 = web.post(f"{both.url.path}/settings", data={"sheet_name": "Term 3", "kind": ""})
    assert len(rows_of(term3.text, "valid")) == 1


def test_a_questioned_header_is_mapped_on_the_page_and_the_notes_are_shown(web: httpx.Client, tmp_path: Path) -> None:
    header, rows = sample_rows()
    header = [("Grade" if name == "outcome" else name) for name in header]
    checked = upload(web, write_csv(tmp_path / "graded.csv", header, rows))
    page = checked.text
    assert 'id="sheet-problem"' in page and "Grade" in page and 'id="settings" open' in page
    number = page.split('value="Grade"')[0].rsplit('name="map-header-', 1)[1].split('"')[0]

    mapped = web.post(
        f"{checked.url.path}/settings", data={f"map-header-{number}": "Grade", f"map-column-{number}": "outcome"}
    )

    assert "Check: graded.csv" in mapped.text and len(rows_of(mapped.text, "valid")) == 28
    assert "outcome &lt;- &#x27;Grade&#x27;" in mapped.text  # the same line `check` prints
    line = mapped.text.split('id="columns-line">')[1].split("</p>")[0]
    assert "kept as notes: trainer_note" in line
    assert "outcome" in mapped.text.split('id="mapped"')[1].split("</ul>")[0]
    plan = press(web, f"{checked.url.path}/plan")
    assert wait_for(web, plan)["counts"]["would-update"] == 23, "the mapping goes on to the plan"


def test_module_statuses_are_a_setting_of_the_page(web: httpx.Client, tmp_path: Path) -> None:
    sheet = tmp_path / "modules.csv"
    sheet.write_bytes((SAMPLES / "module-enrolments.csv").read_bytes())
    checked = upload(web, sheet)
    again = web.post(f"{checked.url.path}/settings", data={"kind": "modules", "module_statuses": "Completed"})
    assert 'value="Completed"' in again.text

    plan = press(web, f"{checked.url.path}/plan")
    status = wait_for(web, plan)

    assert status["counts"].get("would-update", 0) < 10, "matching only Completed modules finds fewer to change"


def test_tables_come_a_page_at_a_time_filtered_on_the_server(web: httpx.Client, tmp_path: Path) -> None:
    header, rows = sample_rows()
    many = [rows[n % len(rows)] for n in range(450)] + [["abc", "31001", "BSBTWK401", "C", "", "", "bad id"]]
    checked = upload(web, write_csv(tmp_path / "many.csv", header, many))

    first = checked.text
    third = web.get(f"{checked.url.path}?page=3").text
    invalid = web.get(f"{checked.url.path}?status=invalid").text

    assert first.count('<tr class="st-') == PAGE_ROWS and "Rows 1-200 of 451" in first
    assert 'id="next-page"' in first and "page=2" in first
    assert third.count('<tr class="st-') == 451 - 2 * PAGE_ROWS and "Rows 401-451 of 451" in third
    assert invalid.count('<tr class="st-') == 1 and 'data-line="452"' in invalid


def test_a_sheet_over_the_row_limit_is_refused_before_it_is_read(tmp_path: Path, sandbox: RunningSandbox) -> None:
    header, rows = sample_rows()
    with app_client(sandbox, tmp_path / "web-data", max_rows=40) as client:
        small = upload(client, write_csv(tmp_path / "small.csv", header, rows))
        big = upload(client, write_csv(tmp_path / "big.csv", header, rows * 2))

    assert "Check: small.csv" in small.text
    assert "big.csv has 56 rows; the page takes at most 40" in big.text
    assert "Split it into sheets of at most 40 rows" in big.text


def test_rows_are_counted_from_the_workbook_xml(tmp_path: Path) -> None:
    workbook = two_sheet_workbook(tmp_path / "term.xlsx")
    assert worksheet_rows(workbook) == {"Read me": 1, "Outcomes": 29}
    assert biggest_worksheet(workbook, "Read me") == ("Read me", 1)
    assert biggest_worksheet(workbook, None) == ("Outcomes", 29)


def test_file_names_keep_their_letters(web: httpx.Client, tmp_path: Path) -> None:
    assert safe_name("Résultats été 2026 – Zoë.csv") == "Résultats été 2026 -- Zoë.csv".replace("--", "-")
    assert safe_name("C:\\Users\\x\\Ökonomie.XLSX") == "Ökonomie.xlsx"
    header, rows = sample_rows()
    checked = upload(web, write_csv(tmp_path / "Résultats été.csv", header, rows))
    assert "Check: Résultats été.csv" in checked.text
    plan = press(web, f"{checked.url.path}/plan")
    wait_for(web, plan)
    download = web.get(f"{plan}/results")
    assert "filename*=utf-8''R%C3%A9sultats%20%C3%A9t%C3%A9.plan.csv" in download.headers["content-disposition"]


def test_start_from_a_class_exports_a_workbook_that_plans_no_change_untouched(
    web: httpx.Client, sandbox: RunningSandbox, tmp_path: Path
) -> None:
    form = web.get("/export")
    assert 'id="export-form"' in form.text and 'href="/export"' in web.get("/").text

    done = web.post("/export", data={"kind": "units", "classes": "31001, 31002", "format": "xlsx"})

    assert done.status_code == 200 and "Exported" in done.text
    link = done.text.split('id="export-download" href="')[1].split('"')[0]
    workbook = web.get(link)
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK")
    saved = tmp_path / link.rsplit("/", 1)[-1]
    saved.write_bytes(workbook.content)
    assert saved.name.startswith("units-31001-") and saved.suffix == ".xlsx"
    checked = upload(web, saved)
    assert "Check: units-31001-" in checked.text and 'id="sheet-problem"' not in checked.text
    plan = press(web, f"{checked.url.path}/plan")
    counts = wait_for(web, plan)["counts"]
    assert set(counts) == {"unchanged"} and counts["unchanged"] > 0, "untouched, it sends nothing"
    assert sandbox.stats.count("PUT", "/course/enrolment") == 0


def test_start_from_a_class_says_what_is_wrong_in_one_sentence(web: httpx.Client) -> None:
    not_ids = web.post("/export", data={"kind": "units", "classes": "31001, abc"})
    nothing = web.post("/export", data={"kind": "units", "classes": "999999"})

    assert not_ids.status_code == 400 and "&#x27;abc&#x27; is not a class ID" in not_ids.text
    assert 'value="31001, abc"' in not_ids.text, "what was typed is kept"
    assert nothing.status_code == 400 and "class 999999 has no unit enrolments to export" in nothing.text
