"""Write the broken-sheet corpus beside this script; run it once, commit the files it writes.

The files, not this script, are the fixtures of tests/test_bad_inputs.py: rerunning it is only needed
to change the corpus. Output is deterministic (fixed seeds, fixed zip timestamps).

Valid rows come from samples/unit-outcomes.csv and samples/module-enrolments.csv, which match the
sandbox's fresh seed, so a valid row in a broken file really resolves. Invalid rows corrupt one cell
of a real row, so that if validation let one through it would reach a real record and be sent.

    python tests/bad_inputs/make_corpus.py
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import openpyxl
from openpyxl.styles import Font, PatternFill

HERE = Path(__file__).resolve().parent
UNITS_HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date", "note"]
MODULES_HEADER = ["contact_id", "class_id", "module_name", "access", "start_date", "end_date", "note"]
ZIP_TIME = (2026, 1, 1, 0, 0, 0)

# Real (contact, class, unit) rows from samples/unit-outcomes.csv, with a change each that the seed accepts.
R1 = ["700001", "31001", "BSBTWK401", "C", "", "05/03/2026"]
R2 = ["700002", "31001", "BSBTWK401", "cna", "2026-03-16", "2026-04-27"]
R3 = ["700003", "31001", "BSBWHS411", "RPL-G", "2026-02-23", "2026-03-30"]
R4 = ["700004", "31001", "BSBTEC404", "C", "", "25/07/2026"]
R5 = ["700061", "31001", "BSBWHS411", "20", "", "13/03/2026"]
R6 = ["700116", "31001", "BSBTWK401", "C", "", "2026-05-15"]
R7 = ["700117", "31001", "BSBPEF402", "CNA", "23/02/2026", "30/03/2026"]
R8 = ["700118", "31001", "BSBXTW401", "20", "27/04/2026", "25/05/2026"]
R9 = ["700063", "31001", "BSBXTW401", "CA", "2026-05-18", ""]
R10 = ["700146", "31003", "SITHCCC027", "C", "2026-01-27", "2026-03-17"]
R11 = ["700147", "31003", "SITHCCC028", "30", "", "19/05/2026"]
R12 = ["700148", "31003", "SITXFSA005", "RPL-G", "17/02/2026", "24/02/2026"]
R13 = ["700149", "31003", "SITHCCC027", "c", "", "2026-03-03"]
R14 = ["700102", "31002", "CHCCCS031", "C", "", "30/04/2026"]
R15 = ["700131", "31002", "CHCLEG001", "cna", "2026-04-13", "2026-05-22"]
R16 = ["700151", "31004", "BSBOPS404", "CA", "2026-08-03", ""]
R17 = ["700157", "31004", "BSBOPS403", "60", "14/09/2026", "14/09/2026"]
R18 = ["700161", "31004", "BSBPEF402", "C", "", "25/11/2026"]
R19 = ["700162", "31004", "BSBOPS404", "20", "", "2026-09-04"]


def with_cell(row: Sequence[str], column: str, value: str) -> list[str]:
    """A copy of a units row (without note) with one cell replaced."""
    copy = list(row)
    copy[UNITS_HEADER.index(column)] = value
    return copy


def note(row: Sequence[str], text: str) -> list[str]:
    return [*row, text]


def write_bytes(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def write_csv(
    name: str,
    rows: Iterable[Sequence[object]],
    *,
    header: Sequence[str] = UNITS_HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
    tail: str = "",
) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    (HERE / name).write_bytes((buffer.getvalue() + tail).encode(encoding))


def xlsx_bytes(book: openpyxl.Workbook, edit: Callable[[str, bytes], bytes] = lambda name, data: data) -> bytes:
    """The workbook as .xlsx bytes with fixed timestamps; ``edit`` may rewrite any part on the way."""
    book.properties.creator = "make_corpus.py"
    book.properties.created = book.properties.modified = dt.datetime(2026, 1, 1)
    raw = io.BytesIO()
    book.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = edit(info.filename, source.read(info.filename))
            if info.filename == "docProps/core.xml":
                data = _fixed_modified(data)
            target.writestr(zipfile.ZipInfo(info.filename, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _fixed_modified(core: bytes) -> bytes:
    text = core.decode()
    start = text.find("<dcterms:modified")
    if start != -1:
        end = text.find("</dcterms:modified>", start) + len("</dcterms:modified>")
        fixed = '<dcterms:modified xsi:type="dcterms:W3CDTF">2026-01-01T00:00:00Z</dcterms:modified>'
        text = text[:start] + fixed + text[end:]
    return text.encode()


def new_book(rows: Iterable[Sequence[object]], header: Sequence[str] | None = UNITS_HEADER) -> openpyxl.Workbook:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Outcomes"
    if header is not None:
        sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    return book


def in_sheet(part: str, old: str, new: str) -> Callable[[str, bytes], bytes]:
    """An ``edit`` that replaces ``old`` by ``new`` in xl/worksheets/sheet1.xml (and insists it was there)."""

    def edit(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        text = data.decode()
        if old not in text:
            raise SystemExit(f"{old!r} not found in {part}")
        return text.replace(old, new).encode()

    return edit


def ole2_bytes(seed: int, names: Sequence[str]) -> bytes:
    """An OLE2/CFB container's header (what Excel writes for encrypted and .xls files) followed by junk."""
    junk = random.Random(seed)
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    header += bytes(junk.randrange(256) for _ in range(512 - len(header)))
    directory = b"".join(name.encode("utf-16-le").ljust(64, b"\x00") + bytes(64) for name in names)
    return header + directory + bytes(junk.randrange(256) for _ in range(2048))


# ---- files rejected as a whole (exit 2) -------------------------------------------------------------


def file_level() -> None:
    write_bytes("empty.csv", b"")
    write_bytes("blank_lines_only.csv", b"\r\n,,,,,,\r\n   \r\n\t\r\n,,\r\n")
    write_csv("headers_only.csv", [])
    write_csv(
        "missing_class_id.csv",
        [[c, u, o, e] for c, _, u, o, _, e in (R1, R2)],
        header=["contact_id", "unit_code", "outcome", "end_date"],
    )
    write_csv("no_change_columns.csv", [[*R1[:3], "done"], [*R2[:3], "done"]], header=[*UNITS_HEADER[:3], "note"])
    write_csv("pipe_delimited.csv", [note(R1, "a"), note(R2, "b")], delimiter="|")
    junk = random.Random(4)
    write_bytes("binary_junk.csv", bytes(junk.randrange(256) for _ in range(4096)))
    write_bytes("binary_junk.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(junk.randrange(256) for _ in range(4096)))
    whole = xlsx_bytes(new_book([note(R1, "a"), note(R2, "b"), note(R3, "c")]))
    write_bytes("truncated.xlsx", whole[: len(whole) // 2])
    write_bytes("password_protected.xlsx", ole2_bytes(11, ["EncryptionInfo", "EncryptedPackage"]))
    write_bytes("old_excel_renamed.csv", ole2_bytes(12, ["Workbook", "\x05SummaryInformation"]))
    write_bytes("legacy.xls", ole2_bytes(13, ["Workbook"]))
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr(zipfile.ZipInfo("[Content_Types].xml", ZIP_TIME), "<Types/>")
        archive.writestr(zipfile.ZipInfo("word/document.xml", ZIP_TIME), "<w:document/>")
    write_bytes("word_document_renamed.xlsx", docx.getvalue())
    write_csv("utf16.csv", [note(R1, "a"), note(R2, "b")], delimiter="\t", encoding="utf-16")
    write_bytes(
        "html_page.csv",
        b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><form action='/login'>"
        b"<input name='user'><input name='password' type='password'></form></body></html>\n",
    )
    write_csv(
        "duplicate_columns_case_space.csv",
        [[*R1[:3], "C", "", "05/03/2026", "CNA"]],
        header=[*UNITS_HEADER[:3], "Outcome", "start_date", "end_date", "outcome "],
    )
    write_csv(
        "duplicate_columns_identical.csv",
        [[*R1[:3], "C", "", "05/03/2026", "CNA"], [*R2[:3], "cna", "2026-03-16", "2026-04-27", "C"]],
        header=[*UNITS_HEADER[:3], "outcome", "start_date", "end_date", "outcome"],
    )
    write_csv(
        "kind_ambiguous.csv",
        [[*R1, "Module 1 - Workplace Safety", "unlocked"]],
        header=[*UNITS_HEADER[:6], "module_name", "access"],
    )
    write_bytes("empty_workbook.xlsx", xlsx_bytes(new_book([], header=None)))
    # An unclosed quote swallows every line after it into one cell.
    text = ",".join(UNITS_HEADER) + "\r\n" + ",".join(note(R1, "ok")) + "\r\n"
    text += ",".join(note(R2, '"Resubmission, not received')) + "\r\n"
    text += ",".join(note(R3, "ok")) + "\r\n" + ",".join(note(R4, "ok")) + "\r\n"
    write_bytes("unclosed_quote.csv", text.encode())
    write_csv("nul_byte.csv", [note(R1, "before\x00after"), note(R2, "b")])
    merged_header()


def merged_header() -> None:
    """'contact_id' merged across A1:B1 over the contact and class columns: B has no header."""
    book = new_book([note(R1, "a"), note(R2, "b")], header=None)
    sheet = book.active
    sheet.insert_rows(1)
    for column, name in enumerate(["contact_id", None, "unit_code", "outcome", "start_date", "end_date", "note"], 1):
        sheet.cell(row=1, column=column, value=name)
    sheet.merge_cells("A1:B1")
    write_bytes("merged_header_cell.xlsx", xlsx_bytes(book))


# ---- files read, with some rows invalid (exit 1) or none (exit 0) ------------------------------------


def trailing_blanks() -> None:
    write_csv(
        "trailing_blank_rows.csv",
        [note(R1, "a"), note(R2, "b"), note(R3, "c")],
        tail=",,,,,,\r\n" * 40 + "   ,  ,\r\n" + "\r\n" * 20 + "\t\r\n",
    )
    book = new_book([note(R1, "a"), note(R2, "b"), note(R3, "c")])
    sheet = book.active
    fill = PatternFill("solid", fgColor="FFFF00")
    for row in range(5, 305):  # formatted but empty: Excel's used range then runs to row 304
        for column in range(1, 8):
            sheet.cell(row=row, column=column).fill = fill
    sheet.cell(row=305, column=7, value="   ")
    write_bytes("trailing_blank_rows.xlsx", xlsx_bytes(book))


def nbsp() -> None:
    nb, nnb, zw = "\u00a0", "\u202f", "\u200b"
    rows = [
        [f"{nb}700001{nb}", f"31001{nb}", f"{nb}BSBTWK401", f"C{nb}{nb}", "", f"{nb}05/03/2026", "a"],
        [f"700002{nnb}", f"{zw}31001", f"BSBTWK401{zw}", f"{nb}cna", f"2026-03-16{nb}", "2026-04-27", "b"],
        [f"{nb} 700003 {nb}", "31001", f" BSBWHS411{nb}", f" RPL-G{nb}", "2026-02-23", f"2026-03-30{nb}", "c"],
    ]
    write_csv("nbsp_around_values.csv", rows, header=[f"contact{nb}id", f"class_id{nb}", *UNITS_HEADER[2:]])


def million_row_claim() -> None:
    rows = [note(row, "ten rows") for row in (R1, R2, R3, R4, R5, R6, R7, R8, R9)]
    edit = in_sheet("xl/worksheets/sheet1.xml", '<dimension ref="A1:G10" />', '<dimension ref="A1:F1048576" />')
    write_bytes("million_row_claim.xlsx", xlsx_bytes(new_book(rows), edit))


def formulas() -> None:
    rows = [
        [*with_cell(R5, "contact_id", "=700000+61"), "formula ID, no saved value"],
        [*with_cell(R2, "contact_id", "=700000+2"), "formula ID, saved value 700002"],
        [*R3, "=1+1"],
    ]
    part = "xl/worksheets/sheet1.xml"
    cached = in_sheet(part, "<f>700000+2</f><v />", "<f>700000+2</f><v>700002</v>")
    write_bytes("formulas.xlsx", xlsx_bytes(new_book(rows), cached))
    rows = [
        [*with_cell(R1, "outcome", '=IF(G2="done","C","CA")'), "done"],
        [*R2, "ok"],
    ]
    write_bytes("formula_outcome_without_value.xlsx", xlsx_bytes(new_book(rows)))


def excel_errors() -> None:
    rows = [
        [*with_cell(R1, "contact_id", "#N/A"), "lookup failed"],
        [*with_cell(R2, "outcome", "#VALUE!"), "bad outcome"],
        [*with_cell(R3, "end_date", "#REF!"), "bad date"],
        [*R4, "#DIV/0!"],
    ]
    write_bytes("excel_error_cells.xlsx", xlsx_bytes(new_book(rows)))


def numbers_as_text() -> None:
    book = new_book([])
    sheet = book.active
    sheet.append([" 700001", "31001 ", "BSBTWK401", "C", "", "05/03/2026", "ids as text"])
    sheet.append(["\u00a0700002", " 31001", "BSBTWK401", "30", "2026-03-16", "2026-04-27", "outcome as text"])
    sheet.append([700003.0, 31001.0, "BSBWHS411", 51, "2026-02-23", "2026-03-30", "ids as numbers"])
    for row in sheet.iter_rows(min_row=2, max_row=3, max_col=2):
        for cell in row:
            cell.number_format = "@"  # Excel's Text format: the look of "numbers stored as text"
    write_bytes("numbers_as_text.xlsx", xlsx_bytes(book))
    write_csv(
        "numbers_as_text.csv",
        [
            ["  700001  ", " 31001", "BSBTWK401", " 20 ", "", "05/03/2026", "spaces around numbers"],
            [*with_cell(R2, "contact_id", "'700002"), "apostrophe kept by a copy from Excel"],
        ],
    )


def ids() -> None:
    write_csv(
        "ids_with_dot_zero.csv",
        [
            [*with_cell(with_cell(R1, "contact_id", "700001.0"), "class_id", "31001.0"), "Excel float"],
            [*with_cell(R2, "contact_id", "700002.00"), "two zeros"],
            [*with_cell(R3, "contact_id", "700003.5"), "fraction"],
            [*with_cell(R4, "class_id", "31001."), "dangling point"],
        ],
    )
    write_csv(
        "scientific_ids.csv",
        [
            [*R1, "ok"],
            [*with_cell(R2, "contact_id", "7.00002E+05"), "Excel scientific"],
            [*with_cell(R3, "class_id", "3.1001e4"), "lower-case e"],
        ],
    )
    write_csv(
        "negative_and_zero_ids.csv",
        [
            [*with_cell(R1, "contact_id", "-700001"), "negative"],
            [*with_cell(R2, "class_id", "0"), "zero"],
            [*with_cell(R3, "contact_id", "+700003"), "plus sign"],
            [*R4, "ok"],
        ],
    )
    write_csv(
        "thousands_separators.csv",
        [
            [*with_cell(R1, "contact_id", "700,001"), "comma grouping"],
            [*with_cell(R2, "contact_id", "700 002"), "space grouping"],
            [*with_cell(R3, "contact_id", "700\u00a0003"), "NBSP grouping (some locales)"],
            [*R4, "ok"],
        ],
    )
    write_csv("huge_number_contact_id.csv", [[*with_cell(R1, "contact_id", "7" * 5000), "5,000 digits"], [*R2, "ok"]])
    write_csv("huge_number_outcome.csv", [[*with_cell(R1, "outcome", "2" * 400), "400 digits"], [*R2, "ok"]])


def dates() -> None:
    write_csv(
        "mixed_date_formats.csv",
        [
            [*R1, "DD/MM/YYYY: valid"],
            [*with_cell(R2, "end_date", "27.4.2026"), "D.M.YYYY: valid"],
            [*with_cell(R3, "start_date", "2026/02/23"), "YYYY/MM/DD"],
            [*with_cell(R4, "end_date", "25-07-2026"), "DD-MM-YYYY"],
            [*with_cell(R5, "end_date", "13 March 2026"), "words"],
            [*with_cell(R6, "end_date", "2026-05-15T10:30"), "with a time"],
        ],
    )
    write_csv(
        "month_first_dates.csv",
        [
            [*with_cell(R1, "end_date", "12/25/2026"), "US month-first"],
            [*with_cell(with_cell(R2, "start_date", "03/16/2026"), "end_date", "04/27/2026"), "US month-first"],
            [*with_cell(R3, "end_date", "25/12/2026"), "day-first: valid"],
        ],
    )
    write_csv(
        "two_digit_years.csv",
        [
            [*with_cell(R1, "end_date", "05/03/26"), "2-digit year"],
            [*with_cell(R2, "start_date", "16/3/26"), "2-digit year"],
            [*with_cell(R3, "end_date", "2026-3-30"), "ISO without zero padding: valid"],
        ],
    )
    write_csv(
        "excel_serial_dates.csv",
        [
            [*with_cell(R1, "end_date", "46086"), "serial number as text"],
            [*with_cell(R2, "start_date", "46097.0"), "serial number with .0"],
            [*R3, "ok"],
        ],
    )
    book = new_book([])
    sheet = book.active
    sheet.append([*R1[:4], None, dt.datetime(2026, 3, 5), "real date cell: valid"])
    sheet.append([*R2[:4], dt.datetime(2026, 3, 16, 14, 30), dt.datetime(2026, 4, 27), "time of day"])
    sheet.append([*R3[:5], 46111, "serial number cell"])
    sheet.append([dt.datetime(2026, 7, 1), *R4[1:], "Excel turned the ID into a date"])
    write_bytes("date_cells.xlsx", xlsx_bytes(book))


def huge_cells() -> None:
    # Stored as an inline string: a megabyte of one letter compresses to a few kilobytes.
    rows = [[*R1, "x" * 1_048_576], [*R2, "ok"]]
    write_bytes("huge_note_1mb.xlsx", xlsx_bytes(new_book(rows)))
    write_csv("huge_unit_code.csv", [[*with_cell(R1, "unit_code", "BSB" * 55_000), "165 KB unit code"], [*R2, "ok"]])


def odd_characters() -> None:
    write_csv(
        "control_characters.csv",
        [
            [*with_cell(R1, "contact_id", "\x0c700001"), "form feed"],
            [*with_cell(R2, "outcome", "C\x1b"), "escape"],
            [*R3, "bell\x07 and \x01 in a note: passed through"],
        ],
    )
    write_csv("control_character_unit_code.csv", [[*with_cell(R1, "unit_code", "BSBTWK401\x07"), "bell"], [*R2, "ok"]])
    write_csv(
        "emoji.csv",
        [
            [*R1, "Great work \U0001f389\U0001f44d"],
            [*with_cell(R2, "outcome", "\u2705"), "tick emoji as outcome"],
            [*R3, "\U0001f9d1\u200d\U0001f393 graduate"],
        ],
    )
    write_csv(
        "semicolon_cp1252.csv",
        [[*R1, "Café déjà vu"], [*with_cell(R2, "outcome", "Compétent"), "French outcome"]],
        delimiter=";",
        encoding="cp1252",
    )


def layout() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Term 4"
    sheet["A1"] = "Term 4 unit outcomes - Business"
    sheet["A1"].font = Font(bold=True, size=16)
    sheet.merge_cells("A1:G1")
    sheet.append([])
    sheet.append(UNITS_HEADER)
    sheet.append([*R1, "line 4"])
    sheet.append([*R2, "line 5"])
    sheet.append([*with_cell(R3, "outcome", "Passed"), "line 6"])
    sheet.append([*R4, "line 7"])
    sheet.row_dimensions[2].height = 4
    write_bytes("header_on_row_3_under_merged_title.xlsx", xlsx_bytes(book))
    write_csv(
        "blank_unit_code_column.csv",
        [[c, k, "", o, s, e, "no unit"] for c, k, _, o, s, e in (R1, R2, R3)],
    )
    text = ",".join(UNITS_HEADER) + "\r\n"
    text += ",".join([*R1, "ok", "extra", "cells"]) + "\r\n"
    text += ",".join(R2[:3]) + "\r\n"
    text += ",".join(R3) + "\r\n"
    write_bytes("ragged_rows.csv", text.encode())
    write_csv(
        "own_row_and_status_columns.csv",
        [[*R1, "A", "Active"], [*R2, "B", "Withdrawn"]],
        header=[*UNITS_HEADER[:6], "Row", "Status"],
    )


def modules() -> None:
    write_csv(
        "modules_bad_values.csv",
        [
            ["700175", "32001", "Module 2 - Customer Service", "unlocked", "2026-03-16", "2026-03-30", "ok"],
            ["700176", "32001", "Module 4 - Digital Tools", "open", "", "", "access word"],
            ["700177", "32001", "", "unlocked", "", "", "no module"],
            ["700187", "32002", "Module 1 - Introduction to Service", "unlocked", "31/06/2026", "", "no 31 June"],
            ["700202", "32003", "MODULE 4 - MANAGING CHANGE", "locked", "2026-06-15", "2026-05-25", "reversed"],
        ],
        header=MODULES_HEADER,
    )


def main() -> None:
    for make in (
        file_level,
        trailing_blanks,
        nbsp,
        million_row_claim,
        formulas,
        excel_errors,
        numbers_as_text,
        ids,
        dates,
        huge_cells,
        odd_characters,
        layout,
        modules,
    ):
        make()
    files = sorted(path for path in HERE.iterdir() if path.suffix != ".py")
    for path in files:
        print(f"{path.stat().st_size:>9}  {path.name}")
    print(f"{sum(path.stat().st_size for path in files):>9}  in {len(files)} files")


if __name__ == "__main__":
    main()
