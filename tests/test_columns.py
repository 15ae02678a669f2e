"""Header mapping: every header is a column (by name, alias or --map), a note, or a question that stops the sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchupdate.columns import NOTE, HeaderQuestions, map_headers, parse_map_option
from batchupdate.errors import InputError
from batchupdate.kinds import detect_kind, known_headers
from batchupdate.kinds.learning_plan import Modules
from batchupdate.kinds.units import Units
from batchupdate.sheet import Sheet, read_sheet

UNIT_IDS = ["Contact ID", "Class ID", "Unit Code"]


def sheet_of(folder: Path, headers: list[str], extra_known: tuple[str, ...] = ()) -> Sheet:
    path = folder / "sheet.csv"
    cells = ["700001", "31001", "BSBTWK401", *(["x"] * (len(headers) - 3))]
    path.write_text(",".join(headers) + "\n" + ",".join(cells) + "\n", encoding="utf-8")
    return read_sheet(path, known_headers={*known_headers(), *extra_known})


# ---------------------------------------------------------------- aliases: taken without asking


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Outcome Code", "outcome"),
        ("Result", "outcome"),
        ("OUTCOMECODE", "outcome"),
        ("Competency", "outcome"),
        ("Competent", "outcome"),
        ("Outcome Identifier - National", "outcome"),
        ("Finish Date", "end_date"),
        ("FINISHDATE", "end_date"),
        ("Activity End Date", "end_date"),
        ("activityEndDate", "end_date"),
        ("Activity Start Date", "start_date"),
        ("Start", "start_date"),
        ("Unit Start Date", "start_date"),
    ],
)
def test_a_units_alias_feeds_its_column(tmp_path: Path, header: str, column: str) -> None:
    mapping = map_headers(sheet_of(tmp_path, [*UNIT_IDS, header]), Units())
    assert mapping.sources[column] == header
    assert f"{column} <- {header!r}" in mapping.describe()


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("ContactID", "contact_id"),
        ("CONTACTID", "contact_id"),
        ("contacts.contactid", "contact_id"),
        ("Instance ID", "class_id"),
        ("INSTANCEID", "class_id"),
        ("programInstanceID", "class_id"),
        ("Subject Code", "unit_code"),
        ("subjectCode", "unit_code"),
    ],
)
def test_aliases_of_the_record_columns(tmp_path: Path, header: str, column: str) -> None:
    headers = [header if name.replace(" ", "_").lower() == column else name for name in UNIT_IDS]
    assert header in headers
    mapping = map_headers(sheet_of(tmp_path, [*headers, "Outcome"]), Units())
    assert mapping.sources[column] == header


def test_modules_aliases(tmp_path: Path) -> None:
    path = tmp_path / "modules.csv"
    path.write_text(
        "ContactID,Instance ID,Module,Access Override,Module Start Date,learningmoduleenrolments.enddate\n"
        "700175,32001,Module 2,unlocked,,\n",
        encoding="utf-8",
    )
    sheet = read_sheet(path, known_headers=known_headers())
    assert detect_kind(sheet, None).name == "modules"
    mapping = map_headers(sheet, Modules())
    assert dict(mapping.sources) == {
        "contact_id": "ContactID",
        "class_id": "Instance ID",
        "module_name": "Module",
        "access": "Access Override",
        "start_date": "Module Start Date",
        "end_date": "learningmoduleenrolments.enddate",
    }


def test_the_mapping_line_names_aliases_and_notes_and_stays_quiet_about_plain_names(tmp_path: Path) -> None:
    sheet = sheet_of(tmp_path, ["contact_id", "Class ID", "unit_code", "Result", "End Date", "trainer_note"])
    line = map_headers(sheet, Units()).describe()
    assert line == (
        "Columns: contact_id, class_id, unit_code, outcome <- 'Result', end_date; kept as notes: trainer_note"
    )


# ---------------------------------------------------------------- notes by design: never questioned


@pytest.mark.parametrize(
    "header",
    [
        "student_name",
        "class_name",
        "unit_name",
        "current_access",
        "Email",
        "Mobile",
        "Given Name",
        "Surname",
        "Full Name",
        "Enrolment Date",
        "Learner ID",
        "Delivery",
        "Amount Paid",
        "Module Status",
        "Learning Plan Name",
        "Class Descriptor",
        "Qualification Code",
        "USI",
        "before_outcome",  # a results file's own column
        "unit_enrolment_id",
        "trainer_note",
        "Comments",
        "Unit Name",
    ],
)
def test_known_headers_that_are_not_columns_are_notes(tmp_path: Path, header: str) -> None:
    mapping = map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", header]), Units())
    assert mapping.notes == (header,)
    assert set(mapping.sources) == {"contact_id", "class_id", "unit_code", "outcome"}


def test_a_describing_header_beside_the_column_it_describes_is_a_note(tmp_path: Path) -> None:
    mapping = map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", "Outcome Comment", "Class"]), Units())
    assert mapping.notes == ("Outcome Comment", "Class")


# ---------------------------------------------------------------- look-alikes: the sheet stops


@pytest.mark.parametrize(
    ("header", "choices"),
    [
        ("Date", ("start_date", "end_date")),
        ("Result Date", ("outcome", "start_date", "end_date")),
        ("Completion Date", ("end_date",)),
        ("Expected Completion Date", ("end_date",)),
        ("Actual Completion Date", ("end_date",)),
        ("Proposed End Date", ("end_date",)),  # the PUT's proposedEndDate is another field
        ("Commencement Date", ("start_date",)),
        ("Grade", ("outcome",)),
        ("Outcme", ("outcome",)),  # a near miss
        ("Outcome Comment", ("outcome",)),  # describing, but nothing else feeds outcome
        ("Unit Status", ("unit_code", "unit_id", "outcome")),
        ("Outcome Identifier - Training Organisation", ("outcome",)),  # outcomeTrainingOrg, another field
        ("End_Dte", ("end_date",)),
    ],
)
def test_a_header_that_looks_like_a_column_stops_the_sheet_naming_the_choices(
    tmp_path: Path, header: str, choices: tuple[str, ...]
) -> None:
    with pytest.raises(HeaderQuestions) as caught:
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Start Date", header]), Units())
    (question,) = caught.value.questions
    assert (question.header, question.choices) == (header, choices)
    message = str(caught.value)
    assert "\n" not in message
    for choice in choices:
        assert f'--map "{header}={choice}"' in message
    assert f'--map "{header}={NOTE}"' in message


def test_several_look_alikes_are_all_asked_at_once_in_sheet_order(tmp_path: Path) -> None:
    with pytest.raises(HeaderQuestions) as caught:
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Grade", "Date"]), Units())
    assert [question.header for question in caught.value.questions] == ["Grade", "Date"]
    assert "2 headers look like columns" in str(caught.value)


def test_a_column_of_the_other_kind_is_questioned(tmp_path: Path) -> None:
    with pytest.raises(HeaderQuestions, match="'access' is a column of modules sheets") as caught:
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", "access"]), Units())
    assert "--kind modules" in str(caught.value)


@pytest.mark.parametrize("header", ["Status", "Row", "error", "Changes"])
def test_a_header_named_like_a_results_column_is_questioned(tmp_path: Path, header: str) -> None:
    with pytest.raises(HeaderQuestions, match=f"'{header}' has the name of a column batchupdate adds"):
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", header]), Units())


def test_status_in_a_units_sheet_may_be_the_outcome_as_axcelerate_calls_it(tmp_path: Path) -> None:
    with pytest.raises(HeaderQuestions, match='--map "STATUS=outcome"'):
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "STATUS"]), Units())
    mapping = map_headers(sheet_of(tmp_path, [*UNIT_IDS, "STATUS"]), Units(), [("STATUS", "outcome")])
    assert mapping.sources["outcome"] == "STATUS"


def test_two_headers_for_one_column_stop_the_sheet(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="columns 'Outcome', 'Result' all mean outcome; keep one"):
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", "Result"]), Units())


# ---------------------------------------------------------------- --map


def test_map_settles_a_question_and_note_keeps_a_header_as_it_is(tmp_path: Path) -> None:
    sheet = sheet_of(tmp_path, [*UNIT_IDS, "Grade", "Date"])
    mapping = map_headers(sheet, Units(), parse_map_option(["grade=Outcome", "Date=note"]))
    assert mapping.sources["outcome"] == "Grade"
    assert mapping.notes == ("Date",)
    assert mapping.describe() == "Columns: contact_id, class_id, unit_code, outcome <- 'Grade'; kept as notes: Date"


def test_map_can_keep_even_a_column_name_as_a_note(tmp_path: Path) -> None:
    mapping = map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", "End Date"]), Units(), [("End Date", NOTE)])
    assert "end_date" not in mapping.sources and mapping.notes == ("End Date",)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        (["Grade"], "is not Header=column"),
        (["=outcome"], "is not Header=column"),
        (["Grade="], "is not Header=column"),
        (["Grade=score"], "'score' is not a column; use one of contact_id"),
        (["Grade=outcome", "grade=note"], "names the header 'Grade' more than once"),
    ],
)
def test_a_bad_map_value_is_one_clear_line(values: list[str], fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse_map_option(values)


def test_a_map_for_a_header_the_sheet_lacks_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no header 'Reslt'; its headers are 'Contact ID'"):
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome"]), Units(), [("Reslt", "outcome")])


def test_a_map_to_a_column_of_another_kind_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="a units sheet has no column access"):
        map_headers(sheet_of(tmp_path, [*UNIT_IDS, "Outcome", "Lock"]), Units(), [("Lock", "access")])


# ---------------------------------------------------------------- kind detection reads the mapping


@pytest.mark.parametrize(
    ("headers", "mapping", "kind"),
    [
        ([*UNIT_IDS, "Outcome Code"], (), "units"),
        (["Contact ID", "Class ID", "Subject Code", "Result"], (), "units"),
        (["Contact ID", "Class ID", "Grade", "Finish Date"], (("Grade", "outcome"),), "units"),
        (["Contact ID", "Class ID", "Grade", "Finish Date"], (), "units"),  # looks like units: questions follow
        (["Contact ID", "Class ID", "Module", "Finish Date"], (), "modules"),
    ],
)
def test_kind_detection_uses_aliases_and_the_map(
    tmp_path: Path, headers: list[str], mapping: tuple[tuple[str, str], ...], kind: str
) -> None:
    assert detect_kind(sheet_of(tmp_path, headers), None, mapping).name == kind


def test_aliases_find_a_header_row_under_a_title(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("Term 4 results,,\nContactID,Instance ID,Subject Code,Result\n700001,31001,BSBTWK401,C\n")
    sheet = read_sheet(path, known_headers=known_headers())
    assert sheet.headers == ("ContactID", "Instance ID", "Subject Code", "Result")
    assert sheet.lines == (3,)
