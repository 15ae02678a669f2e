"""GET /course/enrolments and PUT /course/enrolment: program enrolments and their unit outcomes."""

from typing import Any

from starlette.responses import JSONResponse, Response

from batchupdate.sandbox.context import Sandbox
from batchupdate.sandbox.outcomes import OUTCOME_SHORT_CODES, short_code
from batchupdate.sandbox.protocol import Params, validation_error
from batchupdate.sandbox.readings import listed, write_answer
from batchupdate.sandbox.store import ProgramEnrolment, UnitEnrolment

DELIVERY = {"CODE": 10, "DESCRIPTION": "Classroom-based"}
# aXcelerate gives each unit enrolment its own learner record; the sandbox derives its id from the record id.
UNIT_LEARNER_ID_OFFSET = 1_000_000
WORKSHOP_LEARNER_ID_OFFSET = 2_000_000


def api_datetime(value: str | None) -> str | None:
    """'YYYY-MM-DD hh:mm' as /course/enrolments writes every date; date-only values get 00:00."""
    if value is None:
        return None
    return value if len(value) > 10 else f"{value} 00:00"


def list_enrolments(sandbox: Sandbox, params: Params) -> Response:
    """Program enrolments by class, contact or program, one page, each with its unit activities."""
    activity_type = (params.text("type") or "p").lower()
    if activity_type not in ("p", "w"):
        raise validation_error(f"type '{activity_type}' is not supported here; only p and w work at this time.")
    contact_id = params.integer("contactID")
    class_id = params.integer("instanceID")
    program_id = params.integer("ID")
    offset = params.integer("offset") or 0
    limit = params.integer("limit")
    limit = 100 if limit is None else limit
    if offset < 0 or limit < 1:
        raise validation_error("offset must be 0 or more and limit 1 or more.")
    # The sandbox models no workshop enrolments; without any id the real API answers 204 too.
    if activity_type == "w" or (contact_id, class_id, program_id) == (None, None, None):
        return Response(status_code=204)
    enrolments = sandbox.store.program_enrolments(
        contact_id=contact_id,
        class_id=class_id,
        program_id=program_id,
        offset=offset,
        limit=min(limit, sandbox.settings.max_page_size),
    )
    if not enrolments:
        return Response(status_code=204)
    units = sandbox.store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments])
    answer = [enrolment_json(enrolment, units) for enrolment in enrolments]
    if contact_id is None:  # a class listing: whether it carries ACTIVITIES is the reading played
        answer = [listed(sandbox.settings, enrolment) for enrolment in answer]
    return JSONResponse(answer)


def enrolment_json(enrolment: ProgramEnrolment, units: list[UnitEnrolment]) -> dict[str, Any]:
    """One type p enrolment in the reference sample's shape."""
    return {
        "ENROLMENTDATE": api_datetime(enrolment.enrolled_at),
        "MOBILEPHONE": enrolment.mobile,
        "DELIVERY": DELIVERY,
        "INSTANCEID": enrolment.class_id,
        "CONTACTID": enrolment.contact_id,
        "STARTDATE": api_datetime(enrolment.start_date),
        "SURNAME": enrolment.surname,
        "ACTIVITIES": [unit_json(enrolment, unit) for unit in units if unit.enrol_id == enrolment.enrol_id],
        "AMOUNTPAID": enrolment.amount_paid,
        "FINISHDATE": api_datetime(enrolment.finish_date),
        "CODE": enrolment.program_code,
        "LEARNERID": enrolment.learner_id,
        "NAME": enrolment.class_name,
        "ID": enrolment.program_id,
        "TYPE": "p",
        "GIVENNAME": enrolment.given_name,
        "EMAIL": enrolment.email,
        "SCHOOLTYPEID": None,
        "SCHOOLORGID": None,
        "LASTUPDATEDUTC": enrolment.last_updated_utc,
        "ENROLID": enrolment.enrol_id,
    }


def unit_json(enrolment: ProgramEnrolment, unit: UnitEnrolment) -> dict[str, Any]:
    """One type s activity (a unit enrolment): ID is the unit id, INSTANCEID this student's record."""
    return {
        "ENROLMENTDATE": api_datetime(unit.enrolled_at),
        "MOBILEPHONE": enrolment.mobile,
        "DELIVERY": DELIVERY,
        "INSTANCEID": unit.record_id,
        "CONTACTID": enrolment.contact_id,
        "STARTDATE": api_datetime(unit.start_date),
        "SURNAME": enrolment.surname,
        "ACTIVITIES": [] if unit.workshop_instance_id is None else [workshop_json(enrolment, unit)],
        "STATUS": short_code(unit.outcome_code),
        "OUTCOMECODE": unit.outcome_code,
        "AMOUNTPAID": None,
        "FINISHDATE": api_datetime(unit.end_date),
        "CODE": unit.unit_code,
        "LEARNERID": unit.record_id + UNIT_LEARNER_ID_OFFSET,
        "NAME": unit.unit_name,
        "ID": unit.unit_id,
        "TYPE": "s",
        "GIVENNAME": enrolment.given_name,
        "EMAIL": enrolment.email,
    }


def workshop_json(enrolment: ProgramEnrolment, unit: UnitEnrolment) -> dict[str, Any]:
    """The workshop linked to a unit enrolment (type w), nested like the reference sample's."""
    return {
        "ENROLMENTDATE": api_datetime(unit.enrolled_at),
        "MOBILEPHONE": enrolment.mobile,
        "DELIVERY": DELIVERY,
        "INSTANCEID": unit.workshop_instance_id,
        "CONTACTID": enrolment.contact_id,
        "STARTDATE": api_datetime(unit.workshop_held_on),
        "SURNAME": enrolment.surname,
        "ACTIVITIES": [],
        "AMOUNTPAID": 0,
        "FINISHDATE": api_datetime(unit.workshop_held_on),
        "CODE": unit.workshop_code,
        "LEARNERID": unit.record_id + WORKSHOP_LEARNER_ID_OFFSET,
        "NAME": unit.workshop_name,
        "ID": unit.workshop_type_id,
        "TYPE": "w",
        "GIVENNAME": enrolment.given_name,
        "EMAIL": enrolment.email,
    }


def update_unit_enrolment(sandbox: Sandbox, params: Params) -> Response:
    """Set one unit enrolment's outcome and dates; omitted (or blank) fields stay as they are."""
    required = ["contactID", "type", "programInstanceID"]
    if params.text("subjectCode") is None:
        required.insert(1, "instanceID")
    params.require(*required)
    if (params.text("type") or "").lower() != "s":
        raise validation_error("only type s is supported by the sandbox.")
    contact_id, class_id = params.integer("contactID"), params.integer("programInstanceID")
    assert contact_id is not None and class_id is not None
    unit = find_unit(sandbox, params, contact_id, class_id)
    changes = requested_unit_changes(params)
    start_date = changes.get("start_date", unit.start_date)
    end_date = changes.get("end_date", unit.end_date)
    if start_date and end_date and end_date < start_date:
        raise validation_error(f"activityEndDate {end_date} is before activityStartDate {start_date}.")
    # Handlers run one at a time on the event loop, so nothing can change the unit between check and write.
    if not sandbox.settings.writes_swallowed and sandbox.store.update_unit_enrolment(unit.record_id, changes):
        sandbox.stats.record_write_applied()
    documented = JSONResponse({"STATUS": "success", "MSG": "Enrolment was updated successfully."})
    return write_answer(sandbox.settings, documented)


def find_unit(sandbox: Sandbox, params: Params, contact_id: int, class_id: int) -> UnitEnrolment:
    """The unit enrolment the PUT names (by instanceID, else subjectCode); 412 saying what does not match."""
    unit_id = params.integer("instanceID")
    unit_code = None if unit_id is not None else params.text("subjectCode")
    if not sandbox.store.is_enrolled(contact_id, class_id):
        raise validation_error(f"Contact {contact_id} is not enrolled in class (programInstanceID) {class_id}.")
    unit = sandbox.store.find_unit_enrolment(contact_id, class_id, unit_id=unit_id, unit_code=unit_code)
    if unit is None:
        named = f"instanceID {unit_id}" if unit_id is not None else f"subjectCode {unit_code}"
        raise validation_error(
            f"Contact {contact_id} has no unit enrolment for {named} in class (programInstanceID) {class_id}."
        )
    return unit


def requested_unit_changes(params: Params) -> dict[str, str | None]:
    """The outcome and dates the PUT asks for, validated; only the fields it carries."""
    changes: dict[str, str | None] = {}
    competent = params.integer("competent")
    if competent is not None:
        if competent not in OUTCOME_SHORT_CODES:
            raise validation_error(f"competent {competent} is not a valid competency code.")
        changes["outcome_code"] = str(competent)
    changes.update(params.date_changes("activityStartDate", "activityEndDate"))
    return changes
