"""Reading a sheet: CSV in the encodings Excel writes, or .xlsx; each row keeps its line in the original."""

from __future__ import annotations

import datetime as dt
import io
import re
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from batchupdate import sheet as sheet_module
from batchupdate.errors import InputError
from batchupdate.sheet import Sheet, Worksheet, header_key, neutralise, read_sheet, unneutralise, worksheets
from tests.fakes import write_xlsx_bomb

KNOWN_HEADERS = ("contact_id", "class_id", "unit_code", "unit_id", "outcome", "start_date", "end_date")


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def write_csv(folder: Path, text: str, *, name: str = "outcomes.csv", encoding: str = "utf-8") -> Path:
    return write_bytes(folder, name, text.encode(encoding))


def write_xlsx(folder: Path, sheets: dict[str, Sequence[Sequence[object]]], *, name: str = "outcomes.xlsx") -> Path:
    """A workbook with one worksheet per entry, rows written from A1 down (None leaves a cell empty)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        worksheet = book.create_sheet(title)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row, start=1):
                if value is not None:
                    worksheet.cell(row=number, column=column, value=value)
    path = folder / name
    book.save(path)
    return path


def edit_xlsx_part(path: Path, part: str, edit: Callable[[bytes], bytes | None]) -> None:
    """Rewrite one part inside an .xlsx package (None removes it), keeping the zip itself valid."""
    with zipfile.ZipFile(path) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    edited = edit(parts[part])
    if edited is None:
        del parts[part]
    else:
        parts[part] = edited
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def read(path: Path, *, sheet_name: str | None = None) -> Sheet:
    return read_sheet(path, known_headers=KNOWN_HEADERS, sheet_name=sheet_name)


def cells(sheet: Sheet) -> list[list[object]]:
    return sheet.frame.to_numpy().tolist()


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    "header",
    ["contact_id", "Contact ID", "contact-id", "CONTACT_ID", " ContactId ", "Contact\u00a0ID", "\ufeffcontact_id"],
)
def test_header_key_ignores_case_spaces_underscores_and_dashes(header: str) -> None:
    assert header_key(header) == "contactid"


def test_headers_match_in_any_spelling_and_keep_their_own_name(tmp_path: Path) -> None:
    sheet = read(write_csv(tmp_path, "Contact ID,class-id,OUTCOME,Trainer\n700001,31001,C,Sam\n"))
    assert sheet.headers == ("Contact ID", "class-id", "OUTCOME", "Trainer")
    assert sheet.header_for("contact_id") == "Contact ID"
    assert sheet.header_for("class_id") == "class-id"
    assert sheet.header_for("outcome") == "OUTCOME"
    assert sheet.header_for("unit_code") is None
    assert cells(sheet) == [["700001", "31001", "C", "Sam"]]


def test_repeated_and_blank_headers_get_distinct_names(tmp_path: Path) -> None:
    sheet = read(write_csv(tmp_path, "contact_id,class_id,comment,comment,\n700001,31001,a,b,c,d\n700002,31001\n"))
    assert sheet.headers == ("contact_id", "class_id", "comment", "comment_2", "column_5", "column_6")
    assert cells(sheet) == [
        ["700001", "31001", "a", "b", "c", "d"],
        ["700002", "31001", None, None, None, None],
    ]


# ---------------------------------------------------------------- CSV encodings and separators


@pytest.mark.parametrize(
    ("encoding", "source"),
    [
        pytest.param("utf-8", "CSV (UTF-8, comma-separated)", id="UTF-8"),
        pytest.param("utf-8-sig", "CSV (UTF-8, comma-separated)", id="UTF-8 with BOM"),
        pytest.param("cp1252", "CSV (Windows-1252, comma-separated)", id="cp1252"),
    ],
)
def test_csv_encodings_excel_writes_are_read_correctly(tmp_path: Path, encoding: str, source: str) -> None:
    path = write_csv(tmp_path, "contact_id,class_id,name\n700001,31001,Zoë O’Brien\n", encoding=encoding)
    sheet = read(path)
    assert sheet.headers == ("contact_id", "class_id", "name")  # no BOM glued to the first header
    assert cells(sheet) == [["700001", "31001", "Zoë O’Brien"]]
    assert sheet.source == source


def test_csv_with_a_byte_undefined_in_cp1252_is_read_not_crashed(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "outcomes.csv", b"contact_id,class_id,name\n700001,31001,Zo\xeb \x81\n")
    sheet = read(path)
    assert cells(sheet) == [["700001", "31001", "Zoë \ufffd"]]


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        pytest.param("contact_id;class_id;name\n700001;31001;Smith, Jo\n", "semicolon", id="semicolon"),
        pytest.param("contact_id\tclass_id\tname\n700001\t31001\tSmith, Jo\n", "tab", id="tab"),
        pytest.param('contact_id,class_id,name\n700001,31001,"Smith, Jo"\n', "comma", id="comma with quotes"),
    ],
)
def test_csv_separator_is_recognised(tmp_path: Path, text: str, separator: str) -> None:
    sheet = read(write_csv(tmp_path, text))
    assert sheet.headers == ("contact_id", "class_id", "name")
    assert cells(sheet) == [["700001", "31001", "Smith, Jo"]]
    assert f"{separator}-separated" in sheet.source


def test_semicolon_csv_with_an_excel_title_row_above_the_headers(tmp_path: Path) -> None:
    sheet = read(write_csv(tmp_path, "Term 4 outcomes;;\ncontact_id;class_id;outcome\n700001;31001;C\n"))
    assert cells(sheet) == [["700001", "31001", "C"]]
    assert sheet.lines == (3,)


def test_semicolon_csv_with_a_bare_title_line_above_the_headers(tmp_path: Path) -> None:
    sheet = read(write_csv(tmp_path, "Term 4 outcomes\ncontact_id;class_id;outcome\n700001;31001;C\n"))
    assert cells(sheet) == [["700001", "31001", "C"]]
    assert sheet.lines == (3,)


# ---------------------------------------------------------------- title rows, blank rows, line numbers


def test_title_rows_are_skipped_and_lines_match_the_original_sheet(tmp_path: Path) -> None:
    text = "Term 4 outcomes,,\n,,\nContact ID,class-id,OUTCOME\n700001,31001,C\n700002,31001,CNA\n"
    sheet = read(write_csv(tmp_path, text))
    assert sheet.headers == ("Contact ID", "class-id", "OUTCOME")
    assert cells(sheet) == [["700001", "31001", "C"], ["700002", "31001", "CNA"]]
    assert sheet.lines == (4, 5)


def test_blank_rows_are_dropped_and_later_rows_keep_their_true_lines(tmp_path: Path) -> None:
    text = "contact_id,class_id,outcome\n700001,31001,C\n,,\n\n , \u00a0,\n700002,31001,CNA\n\n"
    sheet = read(write_csv(tmp_path, text))
    assert len(sheet) == 2
    assert cells(sheet) == [["700001", "31001", "C"], ["700002", "31001", "CNA"]]
    assert sheet.lines == (2, 6)


def test_a_sheet_without_recognised_headers_says_what_the_first_row_should_hold(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read(write_csv(tmp_path, "student,subject,result\n700001,BSBWHS411,C\n"))
    assert "no header row found" in str(caught.value)
    assert "contact_id, class_id" in str(caught.value)


# ---------------------------------------------------------------- .xlsx


def test_xlsx_keeps_date_cells_and_numbers_and_true_row_numbers(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        {
            "Outcomes": [
                ["Term 4 outcomes"],
                [],
                ["contact_id", "class_id", "outcome", "start_date", "end_date", "hours"],
                [700001, 31001, "C", dt.datetime(2026, 2, 3), dt.datetime(2026, 11, 25), 12.5],
                [],
                [700002, "31001", 20, dt.datetime(2026, 2, 3), None, 7],
            ]
        },
    )
    sheet = read(path)
    assert sheet.source == "xlsx sheet 'Outcomes'"
    assert sheet.headers == ("contact_id", "class_id", "outcome", "start_date", "end_date", "hours")
    assert cells(sheet) == [
        [700001, 31001, "C", dt.datetime(2026, 2, 3), dt.datetime(2026, 11, 25), 12.5],
        [700002, "31001", 20, dt.datetime(2026, 2, 3), None, 7],
    ]
    assert sheet.lines == (4, 6)


def test_xlsx_reads_the_sheet_chosen_with_sheet_name(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        {
            "Notes": [["Read me first"]],
            "Outcomes": [["contact_id", "class_id", "outcome"], [700001, 31001, "C"]],
        },
    )
    sheet = read(path, sheet_name="Outcomes")
    assert cells(sheet) == [[700001, 31001, "C"]]
    assert sheet.source == "xlsx sheet 'Outcomes'"


def test_xlsx_with_two_fitting_worksheets_stops_and_names_them(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        {
            "Term 4": [["contact_id", "class_id", "outcome"], [700001, 31001, "C"]],
            "Term 3": [["contact_id", "class_id", "outcome"], [700009, 31009, "CNA"]],
        },
    )
    with pytest.raises(InputError) as caught:
        read(path)
    assert "2 worksheets hold a header row ('Term 4', 'Term 3')" in str(caught.value)
    assert "--sheet 'Term 4'" in str(caught.value)
    assert cells(read(path, sheet_name="Term 3")) == [[700009, 31009, "CNA"]]


def test_xlsx_whose_first_worksheet_is_instructions_reads_the_data_worksheet(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path,
        {
            "Read me": [["How to fill in this workbook"], ["Put one row per student and unit"], ["contact_id: the ID"]],
            "Outcomes": [["Term 4"], ["contact_id", "class_id", "outcome"], [700001, 31001, "C"]],
            "Lists": [["C", "CNA"]],
        },
    )
    sheet = read(path)
    assert cells(sheet) == [[700001, 31001, "C"]]
    assert sheet.lines == (3,)
    assert sheet.source == "xlsx sheet 'Outcomes', picked by its header row over 'Read me', 'Lists'"
    assert worksheets(path, KNOWN_HEADERS) == (
        Worksheet("Read me", False),
        Worksheet("Outcomes", True),
        Worksheet("Lists", False),
    )


def test_xlsx_where_no_worksheet_fits_names_the_worksheets_and_sheet_option(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Read me": [["Instructions"]], "Data": [["student", "result"], [1, "C"]]})
    with pytest.raises(InputError) as caught:
        read(path)
    message = str(caught.value)
    assert "none of its worksheets ('Read me', 'Data') has a header row" in message
    assert "--sheet NAME" in message


def test_xlsx_unknown_sheet_name_lists_the_sheets(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Notes": [["x"]], "Outcomes": [["contact_id", "class_id"], [1, 2]]})
    with pytest.raises(InputError) as caught:
        read(path, sheet_name="Sheet1")
    message = str(caught.value)
    assert "no sheet 'Sheet1'" in message
    assert "'Notes', 'Outcomes'" in message


def test_sheet_name_on_a_csv_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape("--sheet is only for .xlsx files")):
        read(write_csv(tmp_path, "contact_id,class_id\n1,2\n"), sheet_name="Outcomes")


def test_sheet_name_of_a_chart_sheet_is_an_input_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Data": [["contact_id", "class_id", "outcome"], [700001, 31001, "C"]]})
    book = openpyxl.load_workbook(path)
    chart = BarChart()
    chart.add_data(Reference(book["Data"], min_col=1, min_row=1, max_row=2))
    book.create_chartsheet("Chart", 0).add_chart(chart)
    book.save(path)
    assert cells(read(path)) == [[700001, 31001, "C"]]  # the default is the first sheet with cells
    with pytest.raises(InputError, match="Chart"):
        read(path, sheet_name="Chart")


def test_xlsx_whose_used_range_claims_a_million_rows_reads_only_its_rows_quickly(tmp_path: Path) -> None:
    rows: list[list[object]] = [["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date"]]
    rows += [[700001 + number, 31001, "BSBWHS411", "C", None, None] for number in range(10)]
    path = write_xlsx(tmp_path, {"Outcomes": rows})

    def claim_a_million_rows(xml: bytes) -> bytes:
        claimed, count = re.subn(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:F1048576"/>', xml)
        assert count == 1, "the sheet XML has no dimension to edit; the test would prove nothing"
        return claimed

    edit_xlsx_part(path, "xl/worksheets/sheet1.xml", claim_a_million_rows)
    assert openpyxl.load_workbook(path, read_only=True).worksheets[0].max_row == 1048576

    started = time.perf_counter()
    sheet = read(path)
    elapsed = time.perf_counter() - started

    assert len(sheet) == 10
    assert sheet.lines == tuple(range(2, 12))
    assert elapsed < 5, f"reading 10 rows took {elapsed:.1f}s"


def test_uppercase_xlsx_suffix_is_read(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Outcomes": [["contact_id", "class_id"], [700001, 31001]]}, name="OUTCOMES.XLSX")
    assert cells(read(path)) == [[700001, 31001]]


def test_xlsx_content_under_a_csv_name_is_read_as_xlsx(tmp_path: Path) -> None:
    workbook = write_xlsx(tmp_path, {"Outcomes": [["contact_id", "class_id"], [700001, 31001]]})
    path = workbook.rename(tmp_path / "export.csv")
    sheet = read(path)
    assert cells(sheet) == [[700001, 31001]]


# ---------------------------------------------------------------- files that cannot be used


def test_truncated_xlsx_is_an_input_error(tmp_path: Path) -> None:
    whole = write_xlsx(tmp_path, {"Outcomes": [["contact_id", "class_id"], [700001, 31001]]}).read_bytes()
    path = write_bytes(tmp_path, "cut.xlsx", whole[: len(whole) // 2])
    with pytest.raises(InputError) as caught:
        read(path)
    assert "cut.xlsx" in str(caught.value)
    assert "damaged or truncated" in str(caught.value)


def test_xlsx_with_damaged_sheet_xml_is_an_input_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Outcomes": [["contact_id", "class_id"], [700001, 31001]]})
    edit_xlsx_part(path, "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2])
    with pytest.raises(InputError, match=re.escape("outcomes.xlsx")):
        read(path)


def test_xlsx_without_a_readable_worksheet_is_an_input_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Outcomes": [["contact_id", "class_id"], [700001, 31001]]})
    edit_xlsx_part(path, "xl/worksheets/sheet1.xml", lambda xml: None)
    with pytest.raises(InputError, match=re.escape("outcomes.xlsx")):
        read(path)


def test_password_protected_workbook_says_to_remove_the_password(tmp_path: Path) -> None:
    # Excel saves an encrypted .xlsx inside an OLE compound file, the same container as the old .xls.
    path = write_bytes(tmp_path, "locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048)
    with pytest.raises(InputError) as caught:
        read(path)
    assert "password" in str(caught.value)
    assert "save it again as .xlsx" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytes(range(256)) * 40, id="every byte"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 2048, id="old xls renamed csv"),
        pytest.param("contact_id\tclass_id\n700001\t31001\n".encode("utf-16"), id="UTF-16 text"),
    ],
)
def test_binary_csv_is_an_input_error(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputError, match="is not a text CSV file; save it as CSV"):
        read(write_bytes(tmp_path, "junk.csv", data))


def test_binary_junk_without_zero_bytes_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no header row found"):
        read(write_bytes(tmp_path, "junk.csv", bytes(range(1, 256)) * 40))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file; check the path"):
        read(tmp_path / "nowhere.csv")


def test_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        read(tmp_path)


@pytest.mark.parametrize("suffix", [".xls", ".ods", ".numbers"])
def test_unsupported_spreadsheet_formats_say_to_save_as_xlsx(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(InputError, match=re.escape("save it as .xlsx or .csv")):
        read(write_bytes(tmp_path, f"outcomes{suffix}", b"anything"))


@pytest.mark.parametrize(
    "text",
    [pytest.param("", id="zero bytes"), pytest.param("\ufeff", id="only a BOM"), pytest.param(" \n,,\n\n", id="blank")],
)
def test_empty_csv_is_an_input_error_saying_empty(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="is empty; it needs a header row"):
        read(write_csv(tmp_path, text))


def test_xlsx_without_cells_is_an_input_error_saying_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is empty; it needs a header row"):
        read(write_xlsx(tmp_path, {"Outcomes": []}))


# ---------------------------------------------------------------- formula guard for results files


@pytest.mark.parametrize("text", ["=SUM(A1)", "+61", "-5", "@x", "\tx", "\rx"])
def test_neutralise_stops_a_formula_and_unneutralise_gives_it_back(text: str) -> None:
    guarded = neutralise(text)
    assert guarded == "'" + text
    assert unneutralise(guarded) == text


@pytest.mark.parametrize("text", ["plain text", "O'Brien", "'quoted", "700001", "", "C"])
def test_plain_text_passes_through_the_formula_guard_unchanged(text: str) -> None:
    assert neutralise(text) == text
    assert unneutralise(text) == text


@pytest.mark.parametrize("cell", [None, 700001, 12.5, dt.date(2026, 3, 1)])
def test_unneutralise_leaves_cells_that_are_not_text_alone(cell: object) -> None:
    assert unneutralise(cell) == cell


# ---------------------------------------------------------------- bounds: bombs, huge cells, NUL bytes


def test_a_workbook_that_expands_past_the_bound_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    write_xlsx_bomb(path, 300 * 2**20)
    assert path.stat().st_size < 2 * 2**20  # a small file...
    with pytest.raises(InputError) as caught:
        read(path)
    message = str(caught.value)  # ...that says what it is, in one line
    assert "bomb.xlsx expands to 300 MB of data inside its zip, more than the 256 MB a sheet may hold" in message
    assert "\n" not in message
    with pytest.raises(InputError, match="expands to 300 MB"):
        worksheets(path)  # the web page's worksheet picker is held to the same bounds


def test_a_worksheet_with_more_rows_than_allowed_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheet_module, "MAX_ROWS", 5)
    rows: list[list[object]] = [["contact_id", "class_id", "outcome"], *([[700001 + n, 31001, "C"] for n in range(9)])]
    with pytest.raises(InputError, match="a worksheet holds 10 rows or more, more than the 5 rows a sheet may have"):
        read(write_xlsx(tmp_path, {"Outcomes": rows}))


def test_a_worksheet_with_more_cells_than_allowed_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sheet_module, "MAX_CELLS", 20)
    rows: list[list[object]] = [["contact_id", "class_id", "outcome"], *([[700001 + n, 31001, "C"] for n in range(9)])]
    with pytest.raises(InputError, match="a worksheet holds 30 cells or more, more than the 20 cells a sheet may have"):
        read(write_xlsx(tmp_path, {"Outcomes": rows}))


def test_cells_far_apart_are_read_row_by_row_with_the_same_result(tmp_path: Path) -> None:
    # A stray value at row 5,000 of column ZZ makes a used range of 3.5 million cells: too many to read whole.
    rows: list[list[object]] = [
        ["Term 4"],
        ["contact_id", "class_id", "outcome", "start_date"],
        [700001, 31001, "C", dt.datetime(2026, 2, 3)],
        [700002, "31001", None, None],
    ]
    path = write_xlsx(tmp_path, {"Outcomes": rows})
    book = openpyxl.load_workbook(path)
    book["Outcomes"]["ZZ5000"] = "stray"
    book.save(path)
    sheet = read(path)
    assert sheet_module._check_bounds(path, path.read_bytes()).dense_cells > sheet_module.DENSE_CELLS
    assert cells(sheet)[:2] == [
        [700001, 31001, "C", dt.datetime(2026, 2, 3), *([None] * 698)],
        [700002, "31001", None, None, *([None] * 698)],
    ]
    assert sheet.lines[:2] == (3, 4)


def _with_shared_string(path: Path, placeholder: str, text: bytes) -> None:
    """Put text no spreadsheet program would write where a cell's placeholder is (inline or shared)."""
    with zipfile.ZipFile(path) as package:
        part = next(name for name in package.namelist() if placeholder.encode() in package.read(name))
    edit_xlsx_part(path, part, lambda xml: xml.replace(placeholder.encode(), text))


def test_a_cell_far_longer_than_a_spreadsheet_holds_is_refused_naming_it(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, {"Outcomes": [["contact_id", "class_id", "note"], [700001, 31001, "HUGE"]]})
    _with_shared_string(path, "HUGE", b"x" * (2 * 2**20))
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value) == (
        "outcomes.xlsx row 2, column C: the cell holds 2,097,152 characters, far more than a spreadsheet cell can "
        "(32,767); shorten it or clear it"
    )


def test_a_nul_byte_in_a_workbook_cell_is_refused_naming_the_cell(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path, {"Outcomes": [["contact_id", "class_id", "note"], [700001, 31001, "ok"], [700002, 31001, "ZERO"]]}
    )
    _with_shared_string(path, "ZERO", b"before_x0000_after")  # how a workbook writes character 0
    with pytest.raises(InputError, match=re.escape("outcomes.xlsx row 3, column C: the cell holds a NUL byte")):
        read(path)


def test_a_nul_byte_deep_in_a_csv_is_refused_naming_its_line(tmp_path: Path) -> None:
    body = "".join(f"{700001 + n},31001,C\n" for n in range(5000))  # past the first 64 KB
    path = write_bytes(
        tmp_path, "outcomes.csv", f"contact_id,class_id,outcome\n{body}".encode() + b"700000,31\x001,C\n"
    )
    with pytest.raises(InputError, match=re.escape("outcomes.csv line 5002 holds a NUL byte (character 0)")):
        read(path)


def test_a_csv_cell_past_the_bound_is_one_line_not_a_quote_error(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path, "outcomes.csv", b"contact_id,class_id,note\n700001,31001," + b"x" * (2 * 2**20) + b"\n"
    )
    with pytest.raises(InputError) as caught:
        read(path)
    assert "line 2: a cell holds more than 1,048,576 characters" in str(caught.value)
    assert "quote" not in str(caught.value)
