"""The units sheet kind: finding each row's unit enrolment, comparing, and the PUT it sends."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from batchupdate.errors import RejectedError
from batchupdate.kinds.base import Change, Row, Unresolved
from batchupdate.kinds.units import UnitEnrolment, Units, units_by_student
from batchupdate.sandbox.faults import ScriptedFault
from tests.fakes import LocalSandbox, endpoint, form_of, held, json_response, make_api, reference_sample, unit_row

UNITS = Units()


def rows_for(local: LocalSandbox, contacts: list[int], class_id: int = 31001, start: int = 0) -> list[Row]:
    """One row (outcome C) per contact, for the first unit the sandbox's fresh seed holds for them in the class
    (a unit they do not have, for a contact not in the class), indexed from ``start``."""
    return [
        unit_row(index, contact_id=contact, class_id=class_id, unit_code=first_unit(local, contact, class_id),
                 outcome="C")
        for index, contact in enumerate(contacts, start=start)
    ]  # fmt: skip


def first_unit(local: LocalSandbox, contact: int, class_id: int) -> str:
    enrolments = local.store.program_enrolments(
        contact_id=contact, class_id=class_id, program_id=None, offset=0, limit=1
    )
    units = local.store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments])
    return units[0].unit_code if units else "BSBWHS411"


def units_of(local: LocalSandbox, contact: int, class_id: int = 31001) -> list[str]:
    enrolments = local.store.program_enrolments(contact_id=contact, class_id=class_id, program_id=None, offset=0,
                                                limit=1)  # fmt: skip
    return sorted(unit.unit_code for unit in local.store.unit_enrolments_of([e.enrol_id for e in enrolments]))


def resolve(local: LocalSandbox, rows: list[Row]) -> dict[int, Any]:
    return asyncio.run(UNITS.resolve(local.api(), rows))


def gets(local: LocalSandbox) -> list[dict[str, str]]:
    """The queries of the GETs the sandbox served (parameter names in lower case)."""
    return [params for method, _, params in local.stats.log if method == "GET"]


# --- the official sample -----------------------------------------------------------------------------------


def test_the_official_course_enrolments_sample_parses_into_unit_enrolments() -> None:
    body = reference_sample("course-enrolments")
    units = units_by_student(body, 27495)
    assert set(units) == {(116482, 27495)}
    by_code = {unit.unit_code: unit for unit in units[(116482, 27495)]}
    assert len(by_code) == 13
    assert by_code["BSBCUS403A"] == UnitEnrolment(
        contact_id=116482,
        class_id=27495,
        unit_id=30602,
        unit_code="BSBCUS403A",
        unit_enrolment_id=187989,
        outcome="30",
        start_date=dt.date(2013, 5, 23),
        end_date=None,
    )
    assert by_code["BSBCCO405A"].outcome == "20"
    assert by_code["BSBCCO405A"].start_date == dt.date(2013, 5, 1)


def test_the_official_sample_keeps_finish_dates_and_leaves_linked_workshops_out() -> None:
    body = reference_sample("course-enrolments")
    [unit] = units_by_student(body, 32373)[(620392, 32373)]
    assert (unit.unit_id, unit.unit_code, unit.outcome) == (41862, "1111TUOC", "20")
    assert (unit.start_date, unit.end_date) == (dt.date(2013, 7, 24), dt.date(2013, 7, 31))
    codes = {u.unit_code for units in units_by_student(body, 27495).values() for u in units}
    assert "AXWEB" not in codes  # a TYPE w workshop nested under a unit is not a unit


def test_nothing_found_is_no_students() -> None:
    assert units_by_student(None, 31001) == {}
    assert units_by_student([], 31001) == {}


def test_an_answer_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ValueError, match="list of enrolments"):
        units_by_student({"error": True}, 31001)


# --- how rows find their records --------------------------------------------------------------------------


def test_three_students_of_a_class_are_found_by_listing_the_class(local: LocalSandbox) -> None:
    rows = rows_for(local, [700001, 700002, 700003])
    targets = resolve(local, rows)
    assert [targets[i].contact_id for i in range(3)] == [700001, 700002, 700003]
    [query] = gets(local)
    assert "contactid" not in query
    assert (query["instanceid"], query["type"], query["offset"], query["limit"]) == ("31001", "p", "0", "100")


@pytest.mark.parametrize("students", [1, 2])
def test_one_or_two_students_of_a_class_are_asked_for_one_by_one(local: LocalSandbox, students: int) -> None:
    rows = rows_for(local, [700001 + i for i in range(students)])
    targets = resolve(local, rows)
    assert all(isinstance(targets[i], UnitEnrolment) for i in range(students))
    queries = gets(local)
    assert sorted(query["contactid"] for query in queries) == [str(700001 + i) for i in range(students)]
    assert all(query["instanceid"] == "31001" for query in queries)


def test_a_class_of_130_is_listed_in_exactly_two_pages(local: LocalSandbox) -> None:
    wanted = [700001, 700101, 700130]  # the seed's class 31001: 700001-700130, the last two on the second page
    rows = rows_for(local, wanted)
    targets = resolve(local, rows)
    assert [targets[i].contact_id for i in range(3)] == wanted
    assert [(q["offset"], q["limit"]) for q in gets(local)] == [("0", "100"), ("100", "100")]


def test_listing_stops_once_every_wanted_student_is_seen(local: LocalSandbox) -> None:
    rows = rows_for(local, [700010, 700011, 700012, 700013])
    resolve(local, rows)
    assert len(gets(local)) == 1


def test_many_rows_of_one_student_need_one_get(local: LocalSandbox) -> None:
    rows = [
        unit_row(i, contact_id="700001", class_id="31001", unit_code=code, outcome="C")
        for i, code in enumerate(["BSBTWK401", "BSBXCM401", "bsbtwk401", "BSBXCM401"])
    ]
    targets = resolve(local, rows)
    assert {targets[i].unit_id for i in range(4)} == {41005, 41004}
    assert len(gets(local)) == 1


def test_each_class_is_looked_up_its_own_way(local: LocalSandbox) -> None:
    rows = rows_for(local, [700001, 700002, 700003]) + rows_for(local, [700058], class_id=31002, start=3)
    targets = resolve(local, rows)
    assert targets[3].class_id == 31002
    queries = sorted(gets(local), key=lambda query: query["instanceid"])
    assert len(queries) == 2
    assert "contactid" not in queries[0] and queries[1]["contactid"] == "700058"


@pytest.mark.parametrize("students", [1, 3], ids=["asked-per-student", "class-listed"])
def test_a_student_not_in_the_class_fails_naming_contact_and_class(local: LocalSandbox, students: int) -> None:
    rows = rows_for(local, [799999] + [700000 + i for i in range(1, students)])
    failure = resolve(local, rows)[0]
    assert isinstance(failure, Unresolved)
    assert "contact 799999 is not enrolled in class 31001" in failure.reason


def test_a_unit_the_student_does_not_have_fails_listing_their_units(local: LocalSandbox) -> None:
    row = unit_row(0, contact_id="700001", class_id="31001", unit_code="HLTAID011", outcome="C")
    failure = resolve(local, [row])[0]
    assert isinstance(failure, Unresolved)
    assert "HLTAID011" in failure.reason
    assert ", ".join(units_of(local, 700001)) in failure.reason


def test_a_unit_is_found_by_its_id_too(local: LocalSandbox) -> None:
    target = resolve(local, [unit_row(0, contact_id="700001", class_id="31001", unit_id="41005", outcome="C")])[0]
    assert (target.unit_id, target.unit_code) == (41005, "BSBTWK401")


def test_a_failed_lookup_fails_only_that_classs_rows_saying_why(local: LocalSandbox) -> None:
    refused = {"instanceID": "31002"}
    details = "instanceID is not a valid class."
    local.script.add(ScriptedFault(method="GET", fields=refused, status=400, details=details))
    rows = rows_for(local, [700058], class_id=31002) + rows_for(local, [700001], start=1)
    targets = resolve(local, rows)
    assert isinstance(targets[0], Unresolved)
    assert "could not look up" in targets[0].reason and "HTTP 400" in targets[0].reason
    assert details in targets[0].reason
    assert isinstance(targets[1], UnitEnrolment)


# --- comparing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "holding", "changes"),
    [
        ({"outcome": "20"}, {"outcome": "20"}, []),
        ({"outcome": "C"}, {"outcome": "20"}, []),
        ({"outcome": " c "}, {"outcome": "20"}, []),
        ({"outcome": "CNA"}, {"outcome": "20"}, [Change("outcome", "20 (C)", "30 (CNA)")]),
        ({"outcome": "C"}, {"outcome": None}, [Change("outcome", "", "20 (C)")]),
        ({"outcome": "0"}, {"outcome": None}, [Change("outcome", "", "0 (N.R.)")]),
        ({"start_date": "03/02/2026"}, {}, []),
        ({"start_date": "2026-02-03"}, {}, []),
        ({"end_date": "28/11/2026"}, {}, []),
        ({"end_date": "29/11/2026"}, {}, [Change("end_date", "2026-11-28", "2026-11-29")]),
        ({"start_date": "01/02/2026"}, {"start_date": None}, [Change("start_date", "", "2026-02-01")]),
        (
            {"outcome": "C", "start_date": "02/03/2026", "end_date": "28/11/2026"},
            {"outcome": "70"},
            [Change("outcome", "70 (CA)", "20 (C)"), Change("start_date", "2026-02-03", "2026-03-02")],
        ),
    ],
)
def test_compare_reports_only_what_would_really_change(
    cells: dict[str, str], holding: dict[str, Any], changes: list[Change]
) -> None:
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", **cells)
    assert UNITS.compare(row, held(**holding)) == changes


def test_a_change_reads_as_before_and_after() -> None:
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", outcome="CNA")
    [change] = UNITS.compare(row, held())
    assert str(change) == "outcome: 20 (C) -> 30 (CNA)"


@pytest.mark.parametrize(
    ("cells", "holding", "conflicts"),
    [
        ({"end_date": "01/02/2026"}, {"start_date": dt.date(2026, 2, 3)}, True),
        ({"start_date": "01/12/2026"}, {"end_date": dt.date(2026, 11, 28)}, True),
        ({"end_date": "03/02/2026"}, {"start_date": dt.date(2026, 2, 3)}, False),
        ({"start_date": "01/01/2026", "end_date": "01/02/2026"}, {"start_date": dt.date(2026, 2, 3)}, False),
        ({"end_date": "01/02/2026"}, {"start_date": None}, False),
    ],
)
def test_an_end_before_the_held_start_is_a_conflict(
    cells: dict[str, str], holding: dict[str, Any], conflicts: bool
) -> None:
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", **cells)
    message = UNITS.conflict(row, held(**holding))
    assert (message is not None) == conflicts
    if message:
        assert "set both start_date and end_date" in message


def test_the_conflict_message_names_both_dates() -> None:
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", end_date="01/02/2026")
    message = UNITS.conflict(row, held(start_date=dt.date(2026, 2, 3)))
    assert message is not None
    assert "2026-02-01" in message and "2026-02-03" in message


# --- writing ----------------------------------------------------------------------------------------------

IDENTITY = {"contactID": "700001", "instanceID": "41001", "programInstanceID": "31001", "type": "s"}


@pytest.mark.parametrize(
    ("cells", "extra"),
    [
        ({"outcome": "CNA"}, {"competent": "30"}),
        ({"outcome": "RPL-G", "end_date": "28/11/2026"}, {"competent": "51"}),
        ({"start_date": "02/03/2026"}, {"activityStartDate": "2026-03-02"}),
        ({"end_date": "2026-12-01"}, {"activityEndDate": "2026-12-01"}),
        (
            {"outcome": "30", "start_date": "01/02/2026", "end_date": "01/12/2026"},
            {"competent": "30", "activityStartDate": "2026-02-01", "activityEndDate": "2026-12-01"},
        ),
    ],
)
def test_write_sends_the_unit_enrolment_and_only_the_changed_fields(
    cells: dict[str, str], extra: dict[str, str]
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return json_response({"STATUS": "success", "MSG": "Enrolment was updated successfully."})

    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", **cells)
    message = asyncio.run(UNITS.write(make_api(handler), row, held()))
    [request] = sent
    assert (request.method, endpoint(request)) == ("PUT", "/course/enrolment")
    assert form_of(request) == {**IDENTITY, **extra}
    assert message == "Enrolment was updated successfully."


def test_write_uses_the_unit_id_not_the_unit_enrolment_record() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return json_response({"STATUS": "success", "MSG": "ok"})

    body = reference_sample("course-enrolments")
    target = next(u for u in units_by_student(body, 27495)[(116482, 27495)] if u.unit_code == "BSBCUS403A")
    row = unit_row(contact_id="116482", class_id="27495", unit_code="BSBCUS403A", outcome="C")
    asyncio.run(UNITS.write(make_api(handler), row, target))
    assert form_of(sent[0]) == {
        "contactID": "116482",
        "instanceID": "30602",
        "programInstanceID": "27495",
        "type": "s",
        "competent": "20",
    }


def test_write_that_aXcelerate_answers_with_a_non_success_status_is_rejected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return json_response({"STATUS": "error", "MSG": "Outcome cannot be changed after certificate issue."})

    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", outcome="CNA")
    with pytest.raises(RejectedError) as caught:
        asyncio.run(UNITS.write(make_api(handler), row, held()))
    assert caught.value.details == "Outcome cannot be changed after certificate issue."


def test_write_against_the_sandbox_is_seen_by_a_reread(local: LocalSandbox) -> None:
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBTWK401", outcome="C", end_date="28/11/2026")
    api = local.api()
    [target] = asyncio.run(UNITS.resolve(api, [row])).values()
    assert isinstance(target, UnitEnrolment)
    assert UNITS.compare(row, target) != []
    asyncio.run(UNITS.write(api, row, target))
    current = asyncio.run(UNITS.reread(api, row, target))
    assert current is not None
    assert UNITS.compare(row, current) == []
    assert UNITS.result_values(target) == {
        "student_name": "Oliver Davis",
        "resolved_unit_id": "41005",
        "unit_enrolment_id": str(target.unit_enrolment_id),
        "before_outcome": "70",
        "before_start_date": "2026-02-23",
        "before_end_date": "",
    }
