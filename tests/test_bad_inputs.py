"""A corpus of broken sheets through the real CLI and the real sandbox: each ends in exit 2 with a one-line
message, or in per-row `invalid` verdicts that name the column and the value, never in a traceback, and
never with a request sent for a row that is not valid.

The files live in tests/bad_inputs/ (written once by make_corpus.py there). Their valid rows are real rows
of the sandbox's fresh seed (samples/unit-outcomes.csv), and each invalid row corrupts one cell of a real
row, so that if validation ever let one through it would resolve and be sent, and this test would see it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batchupdate.results import default_results_path
from batchupdate.sandbox import SandboxSettings, start_sandbox
from tests.conftest import cli_env, read_results

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
FINE = ("updated", "unchanged")
WORKERS = min(8, 2 * (os.cpu_count() or 2))
LONGEST_MESSAGE = 400  # a row's error is read in a terminal line and a spreadsheet cell: never the whole cell


@dataclass(frozen=True)
class Expect:
    """What a user must see for one corpus file."""

    exit: int
    message: tuple[str, ...] = ()  # exit 2: fragments of the one-line error on stderr
    # exit 0/1: line in the sheet -> (the contact id a slip would send, fragments of that row's error)
    invalid: Mapping[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    rows: int | None = None  # result lines: one per data row, blank rows not counted
    sent: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # contact id -> PUT fields it carried


def rejected(*message: str) -> Expect:
    """The whole file is refused before anything is sent."""
    return Expect(2, message=message)


def rows(
    exit_code: int,
    count: int,
    invalid: Mapping[int, tuple[str, tuple[str, ...]]] | None = None,
    sent: Mapping[str, Mapping[str, str]] | None = None,
) -> Expect:
    """The file is read into ``count`` rows; those listed are invalid, every other one updated or unchanged."""
    return Expect(exit_code, invalid=invalid or {}, rows=count, sent=sent or {})


def bug(file: str, expect: Expect, reason: str) -> Any:
    """A case that once showed a bug (``reason``); it now must behave as ``expect`` says."""
    return pytest.param(file, expect, id=file)


CASES = [
    # ---- refused as a whole: exit 2, nothing sent ------------------------------------------------------
    # 0 bytes: nothing to read.
    ("empty.csv", rejected("empty.csv is empty", "header row")),
    # Only blank lines, commas and spaces: as empty as a 0-byte file.
    ("blank_lines_only.csv", rejected("blank_lines_only.csv is empty")),
    # No class_id column: no row can be resolved, so the file is refused, naming the column.
    ("missing_class_id.csv", rejected("missing the column class_id", "units sheet")),
    # Only ids and a note: the sheet asks for no change at all.
    ("no_change_columns.csv", rejected("missing the column outcome or start_date or end_date")),
    # Random bytes with NULs under a .csv name.
    ("binary_junk.csv", rejected("binary_junk.csv is not a text CSV file", "save it as CSV")),
    # Random bytes (a PNG's signature) under an .xlsx name.
    ("binary_junk.xlsx", rejected("binary_junk.xlsx is not a readable .xlsx file")),
    # A good workbook cut in half (an interrupted download or copy).
    ("truncated.xlsx", rejected("truncated.xlsx is not a readable .xlsx file", "truncated")),
    # Excel encrypts a password-protected workbook into an OLE2 container: say so, and how to remove it.
    ("password_protected.xlsx", rejected("password-protected", "remove the password")),
    # An old binary .xls renamed .csv.
    ("old_excel_renamed.csv", rejected("old_excel_renamed.csv is not a text CSV file")),
    # An old binary .xls under its own name.
    ("legacy.xls", rejected(".xls files are not supported", "save it as .xlsx or .csv")),
    # A zip that is not a workbook (a Word document renamed .xlsx).
    ("word_document_renamed.xlsx", rejected("word_document_renamed.xlsx is not a readable .xlsx file")),
    # Excel's "Unicode text": UTF-16, which the CSV reader does not take; the fix is named.
    ("utf16.csv", rejected("utf16.csv is not a text CSV file", "CSV (UTF-8)")),
    # A sign-in page saved as .csv by a failed download: no header row anywhere.
    ("html_page.csv", rejected("no header row found")),
    # A NUL byte inside a note: the file is not text, and nothing is guessed.
    ("nul_byte.csv", rejected("nul_byte.csv is not a text CSV file")),
    # "Outcome" and "outcome " both mean outcome: which one counts is the user's call.
    ("duplicate_columns_case_space.csv", rejected("'Outcome'", "'outcome'", "all mean outcome; keep one")),
    # Units columns with module_name and access mixed in: the kind is not guessed.
    ("kind_ambiguous.csv", rejected("cannot tell whether this is a units or a modules sheet", "--kind")),
    # A workbook with no cells at all.
    ("empty_workbook.xlsx", rejected("empty_workbook.xlsx is empty")),
    # "contact_id" merged across A1:B1: the class ids in column B have no header, so class_id is missing.
    ("merged_header_cell.xlsx", rejected("missing the column class_id")),
    bug(
        "headers_only.csv",
        rejected("headers_only.csv", "data row"),
        "a header row with no data rows exits 0 ('0 rows') instead of exit 2; sheet._to_sheet checks only "
        "for a header row, though its own empty-file message says 'at least one data row' is needed",
    ),
    # '|'-separated (some exports): read like a comma-separated file; both rows are fine.
    ("pipe_delimited.csv", rows(0, 2)),
    bug(
        "duplicate_columns_identical.csv",
        rejected("'outcome'", "all mean outcome; keep one"),
        "two columns both headed exactly 'outcome' (C and CNA on one row) are not refused: "
        "sheet._unique_headers renames the second to 'outcome_2' before validate.canonical_frame looks for "
        "duplicates, so it becomes a pass-through column and the first one silently wins (exit 0)",
    ),
    bug(
        "unclosed_quote.csv",
        rejected("unclosed_quote.csv", "quote"),
        "an unclosed quote in row 3's note swallows rows 4 and 5 into that note: the run reports '2 rows, "
        "updated 2' and exits 0, rows 4-5 are silently never applied and missing from the results (the "
        "contract: one results line per input row); sheet._read_csv (csv.reader, not strict) should refuse "
        "the file naming the line of the unclosed quote",
    ),
    # ---- read, rows judged one by one ------------------------------------------------------------------
    # 40 lines of commas and 20 blank lines after the data: ignored, not invalid. Exit 0.
    ("trailing_blank_rows.csv", rows(0, 3)),
    # 300 formatted-but-empty rows (Excel's used range reaches row 305) and a cell holding spaces: ignored.
    ("trailing_blank_rows.xlsx", rows(0, 3)),
    # NBSP, narrow NBSP and zero-width spaces around ids, codes, outcomes, dates and in headers: trimmed,
    # every row valid (exit 0), and what goes out is clean.
    (
        "nbsp_around_values.csv",
        rows(0, 3, sent={"700001": {"competent": "20", "activityenddate": "2026-03-05"}}),
    ),
    # The stored used range says A1:F1048576 but ten rows are there: read ten rows, quickly. Exit 0.
    ("million_row_claim.xlsx", rows(0, 9)),
    # A formula in contact_id with no saved value is shown as the formula: that row is invalid. A formula
    # with a saved value (as Excel saves it) reads as that value: valid. A formula in a note passes through.
    ("formulas.xlsx", rows(1, 3, {2: ("700061", ("contact_id '=700000+61' is a formula with no saved result",))})),
    # Excel error cells are values a user can read in the message; #DIV/0! in a pass-through note is fine.
    (
        "excel_error_cells.xlsx",
        rows(
            1,
            4,
            {
                2: ("700001", ("contact_id '#N/A' is not an ID",)),
                3: ("700002", ("outcome '#VALUE!' is not an outcome code",)),
                4: ("700003", ("end_date '#REF!' is not a date",)),
            },
        ),
    ),
    # Ids and an outcome stored as text (with spaces, an NBSP, Text number format) and ids as floats: valid.
    ("numbers_as_text.xlsx", rows(0, 3)),
    # Spaces around numbers are trimmed (valid); a literal leading apostrophe is not guessed away (invalid).
    ("numbers_as_text.csv", rows(1, 2, {3: ("700002", ('contact_id "\'700002" is not an ID',))})),
    # Excel's 700001.0 and 700002.00 are ids; 700003.5 and "31001." are not.
    (
        "ids_with_dot_zero.csv",
        rows(
            1,
            4,
            {
                4: ("700003", ("contact_id '700003.5' is not an ID",)),
                5: ("700004", ("class_id '31001.' is not an ID",)),
            },
        ),
    ),
    # Scientific notation from Excel is never expanded into a guessed id.
    (
        "scientific_ids.csv",
        rows(
            1,
            3,
            {
                3: ("700002", ("contact_id '7.00002E+05' is not an ID",)),
                4: ("700003", ("class_id '3.1001e4' is not an ID",)),
            },
        ),
    ),
    # Negative, zero and signed ids.
    (
        "negative_and_zero_ids.csv",
        rows(
            1,
            4,
            {
                2: ("700001", ("contact_id '-700001' is not an ID",)),
                3: ("700002", ("class_id '0' is not an ID",)),
                4: ("700003", ("contact_id '+700003' is not an ID",)),
            },
        ),
    ),
    # Digit grouping (comma, space, NBSP) is not silently removed.
    (
        "thousands_separators.csv",
        rows(
            1,
            4,
            {
                2: ("700001", ("contact_id '700,001' is not an ID",)),
                3: ("700002", ("contact_id '700 002' is not an ID",)),
                4: ("700003", ("contact_id '700\\xa0003' is not an ID",)),
            },
        ),
    ),
    # ISO, DD/MM/YYYY and D.M.YYYY are dates; slashes year-first, dashes day-first, words, times are not.
    (
        "mixed_date_formats.csv",
        rows(
            1,
            6,
            {
                4: ("700003", ("start_date '2026/02/23' is not a date",)),
                5: ("700004", ("end_date '25-07-2026' is not a date",)),
                6: ("700061", ("end_date '13 March 2026' is not a date",)),
                7: ("700116", ("end_date '2026-05-15T10:30' is not a date",)),
            },
            sent={"700002": {"activityenddate": "2026-04-27"}},
        ),
    ),
    # A date that can only be month first (03/16/2026) shows its column is written month first: the whole
    # sheet stops, naming the column and the cell, and no date is swapped or half written (tests/test_columns_cli.py
    # has the rest of the date rule).
    (
        "month_first_dates.csv",
        rejected("start_date is written month first (end_date too)", "row 3 '03/16/2026'", "day first"),
    ),
    # Two-digit years are not guessed into a century; unpadded ISO (2026-3-30) is a date.
    (
        "two_digit_years.csv",
        rows(
            1,
            3,
            {
                2: ("700001", ("end_date '05/03/26' is not a date",)),
                3: ("700002", ("start_date '16/3/26' is not a date",)),
            },
        ),
    ),
    # Excel date serials stored as text ("46086") are not converted behind the user's back.
    (
        "excel_serial_dates.csv",
        rows(
            1,
            3,
            {
                2: ("700001", ("end_date '46086' is not a date",)),
                3: ("700002", ("start_date '46097.0' is not a date",)),
            },
        ),
    ),
    # Real date cells are dates; one with a time of day, a serial-number cell, and an id Excel turned
    # into a date are each invalid.
    (
        "date_cells.xlsx",
        rows(
            1,
            4,
            {
                3: ("700002", ("start_date '2026-03-16 14:30:00' has a time of day",)),
                4: ("700003", ("end_date '46111' is not a date",)),
                5: ("700004", ("contact_id '2026-07-01' is not an ID",)),
            },
            sent={"700001": {"activityenddate": "2026-03-05"}},
        ),
    ),
    # A 165 KB unit code: invalid, and the message shows the start of it, not all of it.
    ("huge_unit_code.csv", rows(1, 2, {2: ("700001", ("unit_code 'BSBBSB", "is not a unit code"))})),
    # Form feed before an id, escape after an outcome: invalid, shown escaped. Control characters in a
    # pass-through note are the user's business: that row is valid.
    (
        "control_characters.csv",
        rows(
            1,
            3,
            {
                2: ("700001", ("contact_id '\\x0c700001' is not an ID",)),
                3: ("700002", ("outcome 'C\\x1b' is not an outcome code",)),
            },
        ),
    ),
    # Emoji in a note pass through (valid); a tick emoji is not an outcome.
    ("emoji.csv", rows(1, 3, {3: ("700002", ("outcome '\u2705' is not an outcome code",))})),
    # A semicolon-separated cp1252 file (Excel "CSV" in some locales) is read; its é survives in the message.
    ("semicolon_cp1252.csv", rows(1, 2, {3: ("700002", ("outcome 'Compétent' is not an outcome code",))})),
    # The header row is row 3, under a merged title and a blank row: rows keep their sheet line numbers.
    ("header_on_row_3_under_merged_title.xlsx", rows(1, 4, {6: ("700003", ("outcome 'Passed'",))})),
    # A unit_code column with only blanks: every row invalid, and no request at all.
    (
        "blank_unit_code_column.csv",
        rows(
            1,
            3,
            {
                line: (contact, ("unit_code and unit_id are both blank",))
                for line, contact in ((2, "700001"), (3, "700002"), (4, "700003"))
            },
        ),
    ),
    # Extra cells become pass-through columns (valid); a row cut short asks for no change (unchanged).
    ("ragged_rows.csv", rows(0, 3)),
    # A modules sheet: a wrong access word, no module, no such date, end before start.
    (
        "modules_bad_values.csv",
        rows(
            1,
            5,
            {
                3: ("700176", ("access 'open' is not an access word",)),
                4: ("700177", ("module_name and module_enrolment_id are both blank",)),
                5: ("700187", ("start_date '31/06/2026' is not a real date",)),
                6: ("700202", ("end_date '2026-05-25' is before start_date '2026-06-15'",)),
            },
        ),
    ),
    bug(
        "formula_outcome_without_value.xlsx",
        rows(1, 2, {2: ("700001", ("outcome", "formula"))}),
        "an outcome cell holding a formula with no saved value (as openpyxl and other generators write "
        "them) is read as blank, i.e. 'leave as it is': row 2 is 'updated' with only its end_date and the "
        "outcome the sheet asks for is silently dropped; sheet._read_xlsx loads with data_only=True and "
        "cannot tell such a cell from an empty one",
    ),
    bug(
        "huge_number_contact_id.csv",
        rows(1, 2, {2: ("7" * 5000, ("contact_id '777", "is not an ID"))}),
        "a 5,000-digit contact_id crashes the run with a traceback (ValueError: Exceeds the limit (4300 "
        "digits) for integer string conversion) from cells._parse_id_text int(text), raised through "
        "validate._parse_columns, which catches only CellError",
    ),
    bug(
        "huge_number_outcome.csv",
        rows(1, 2, {2: ("700001", ("outcome '222", "is not an outcome code"))}),
        "a 400-digit outcome crashes the run with a traceback (OverflowError: cannot convert float "
        "infinity to integer) from outcomes.parse_outcome int(float(text)), raised through "
        "validate._parse_columns, which catches only CellError",
    ),
    bug(
        "huge_note_1mb.xlsx",
        rows(1, 2, {2: ("700001", ("note", "more than a spreadsheet cell can"))}),
        "a 1 MB cell (in a pass-through note) is accepted and copied whole into the results file (exit 0); "
        "there is no cap on a cell's size (~150 KB asked; Excel itself holds at most 32,767 characters)",
    ),
    bug(
        "control_character_unit_code.csv",
        rows(1, 2, {2: ("700001", ("unit_code 'BSBTWK401\\x07' is not a unit code",))}),
        "a unit_code with a BEL control character passes validation (units.parse_unit_code rejects only "
        "spaces), is looked up (a GET is sent for a row that is not valid) and ends 'failed' with a baffling "
        "message: 'unit BSBTWK401 is not in contact 700001's enrolment ... their units are ... BSBTWK401'",
    ),
    bug(
        "own_row_and_status_columns.csv",
        rejected("'Row'", "rename it"),
        "a sheet with its own 'Row' and 'Status' columns (row 'A', status 'Active') is taken for a results "
        "file and crashes with a traceback (ValueError: could not convert string to float: 'A') in "
        "pipeline.select_rows int(float(str(line)))",
    ),
]


def params() -> list[Any]:
    """Each case as a pytest param named after its file (the bugs are params already)."""
    return [case if hasattr(case, "marks") else pytest.param(*case, id=case[0]) for case in CASES]


@dataclass(frozen=True)
class Run:
    """One corpus file through `batchupdate run`: what the user saw, and what reached the sandbox."""

    done: subprocess.CompletedProcess[str]
    requests: list[tuple[str, str, dict[str, str]]]  # (method, path, fields with lower-case names)
    folder: Path

    @property
    def puts(self) -> list[dict[str, str]]:
        return [fields for method, _, fields in self.requests if method == "PUT"]


def run_file(name: str, folder: Path) -> Run:
    """Copy the file into its own folder (results go beside it) and run the real CLI against a fresh sandbox."""
    folder.mkdir()
    sheet = folder / name
    shutil.copyfile(CORPUS / name, sheet)
    with start_sandbox(SandboxSettings(db_path=folder / "sandbox.sqlite3")) as sandbox:
        done = subprocess.run(
            [sys.executable, "-m", "batchupdate", "run", str(sheet), "--no-progress", "--rate", "1000"],
            cwd=folder,
            env=cli_env(sandbox.url),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        return Run(done, list(sandbox.stats.log), folder)


def mentions(request: tuple[str, str, dict[str, str]], contact: str) -> bool:
    """Whether a request names the contact: a PUT's contactID, a lookup's contactID, a report's IN filter."""
    return any(contact in str(value) for value in request[2].values())


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every selected corpus file, run side by side, each against its own sandbox.

    Start-up of the CLI (importing pandas and pandera, ~1.5 s of CPU) is most of each run's time, so
    the runs go side by side on every core rather than one after another.
    """
    names = sorted(
        {
            str(item.callspec.params["name"])
            for item in request.session.items
            if isinstance(item, pytest.Function) and item.module is request.module and hasattr(item, "callspec")
        }
    )
    root = tmp_path_factory.mktemp("bad_inputs")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(run_file, name, root / name.replace(".", "_")) for name in names}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize(("name", "expect"), params())
def test_a_broken_sheet_is_refused_or_its_bad_rows_are_invalid_and_never_sent(
    name: str, expect: Expect, runs: dict[str, Run]
) -> None:
    run = runs[name]
    done, sent = run.done, run.puts

    shown = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr, shown
    assert done.returncode == expect.exit, shown
    if expect.exit == 2:
        assert run.requests == [], shown  # not even a lookup: the file was refused before any network
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), shown
        for fragment in expect.message:
            assert fragment in lines[0], shown
        return

    results = read_results(default_results_path(run.folder / name))
    assert len(results) == expect.rows, shown
    by_line = {int(result["row"]): result for result in results}
    for line, (contact, fragments) in expect.invalid.items():
        result = by_line[line]
        assert result["status"] == "invalid", (line, result, shown)
        assert len(result["error"]) <= LONGEST_MESSAGE, (line, result["error"][:LONGEST_MESSAGE])
        for fragment in fragments:
            assert fragment in result["error"], (line, fragment, result["error"])
        assert f"row {line}: invalid: " in done.stdout, shown
        # The heart of it: no request, not even a lookup, for the record this row would have reached.
        assert not [request for request in run.requests if mentions(request, contact)], (line, run.requests)
    for line, result in by_line.items():
        if line not in expect.invalid:
            assert result["status"] in FINE, (line, result, shown)
    if len(expect.invalid) == len(results):
        assert run.requests == [], "no valid row, yet requests were sent"
    for contact, wanted in expect.sent.items():
        carried = [fields for fields in sent if fields.get("contactid") == contact]
        assert len(carried) == 1, (contact, sent)
        assert {key: carried[0].get(key) for key in wanted} == dict(wanted), (contact, carried)


def test_every_corpus_file_has_an_expectation_and_the_corpus_stays_small() -> None:
    files = {path.name: path.stat().st_size for path in CORPUS.iterdir() if path.suffix != ".py"}
    assert sorted(files) == sorted(param.id for param in params())
    assert len(files) >= 25
    assert max(files.values()) < 200_000 and sum(files.values()) < 2_000_000
