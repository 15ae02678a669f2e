"""Learning-plan modules: the learningModuleEnrolments report (/report/*) and their PUT (/v2/learningPlan/...)."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from batchupdate.sandbox.context import Sandbox
from batchupdate.sandbox.protocol import Params, validation_error
from batchupdate.sandbox.readings import report_page, write_answer
from batchupdate.sandbox.settings import SandboxSettings
from batchupdate.sandbox.store import ModuleEnrolment

REPORT_REFERENCE = "learningModuleEnrolments"
REPORT_NAME = "Learning Module Enrolments"
STATUS_NAMES = {1: "Enrolled", 2: "In Progress", 3: "Completed", 4: "Cancelled"}
MAX_DISPLAY_LENGTH = 1000


@dataclass(frozen=True)
class ReportField:
    """A report column or filter: its NAME, DISPLAY and GROUP, and how to read it from a module enrolment."""

    name: str
    display: str
    group: str
    read: Callable[[ModuleEnrolment], Any]

    def value(self, module: ModuleEnrolment) -> str:
        """The cell as report DATA shows it: always a string, "" for none, booleans as true/false."""
        value = self.read(module)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def date_only(value: str | None) -> str | None:
    """Report rows show dates as YYYY-MM-DD."""
    return value[:10] if value else None


CONTACT, MODULE, CLASS, ENROLMENT = "Contact", "Learning Module Enrolment", "Class", "Enrolment"
VIEW_FIELDS = [
    ReportField("contacts.contactid", "Contact ID", CONTACT, lambda m: m.contact_id),
    ReportField("contacts.fullname", "Full Name", CONTACT, lambda m: f"{m.given_name} {m.surname}"),
    ReportField(
        "learningmoduleenrolments.moduleenrolmentid", "Module Enrolment ID", MODULE, lambda m: m.module_enrolment_id
    ),
    ReportField("learningmoduleenrolments.modulename", "Module Name", MODULE, lambda m: m.module_name),
    ReportField("learningmoduleenrolments.status", "Module Status", MODULE, lambda m: STATUS_NAMES[m.status_id]),
    ReportField("learningmoduleenrolments.startdate", "Module Start Date", MODULE, lambda m: m.start_date),
    ReportField("learningmoduleenrolments.enddate", "Module End Date", MODULE, lambda m: m.end_date),
    ReportField(
        "learningmoduleenrolments.commencementdate", "Commencement Date", MODULE, lambda m: m.commencement_date
    ),
    ReportField("learningmoduleenrolments.completiondate", "Completion Date", MODULE, lambda m: m.completion_date),
    ReportField("learningmoduleenrolments.accessoverride", "Access Override", MODULE, lambda m: m.access_override),
    ReportField("classes.classid", "Class ID", CLASS, lambda m: m.class_id),
    ReportField("classes.classdescriptor", "Class Descriptor", CLASS, lambda m: m.class_descriptor),
    ReportField("enrolments.enrolid", "Enrolment ID", ENROLMENT, lambda m: m.enrol_id),
    ReportField("enrolments.dateenrolled", "Enrolment Date", ENROLMENT, lambda m: date_only(m.enrolled_at)),
    ReportField("enrolments.learningplanname", "Learning Plan Name", ENROLMENT, lambda m: m.learning_plan_name),
]
FILTER_FIELDS = [
    ReportField("learningmoduleenrolments.statusid", "Module Status", MODULE, lambda m: m.status_id),
    ReportField("contacts.contactid", "Contact ID", CONTACT, lambda m: m.contact_id),
    ReportField("classes.classid", "Class ID", CLASS, lambda m: m.class_id),
]
VIEW_FIELDS_BY_NAME = {field.name: field for field in VIEW_FIELDS}
FILTER_FIELDS_BY_NAME = {field.name: field for field in FILTER_FIELDS}
# Without selectedViewFields the report shows the fields the developer guide asks for.
DEFAULT_VIEW_FIELDS = [field for field in VIEW_FIELDS if field.name != "learningmoduleenrolments.accessoverride"]

# Operators every filter field offers: (VALUE, DISPLAY). IN-style operators take a comma-separated list.
OPERATORS = [("IS", "Equals"), ("IN", "In List"), ("text IN", "In List (text)")]
LIST_OPERATORS = {"in", "text in"}
SINGLE_OPERATORS = {"is", "="}


def option(value: str, display: str) -> dict[str, Any]:
    """One OPERATOROPTIONS / VALUEOPTIONS entry."""
    return {"REQUIRESVALUE2": False, "DISPLAY": display, "OPTGROUP": "", "VALUE": value}


def require_report(params: Params) -> None:
    """412 unless reportReference names the one report the sandbox has (case-insensitively)."""
    params.require("reportReference")
    reference = params.text("reportReference") or ""
    if reference.lower() != REPORT_REFERENCE.lower():
        raise validation_error(f"reportReference '{reference}' is not a known report; try {REPORT_REFERENCE}.")


def report_fields(sandbox: Sandbox, params: Params) -> Response:
    """GET /report/fields: the view and filter fields of learningModuleEnrolments."""
    require_report(params)

    def listed(fields: list[ReportField]) -> list[dict[str, str]]:
        return [{"DISPLAY": field.display, "NAME": field.name, "GROUP": field.group} for field in fields]

    return JSONResponse({"VIEWFIELDS": listed(view_fields_of(sandbox.settings)), "FILTERFIELDS": listed(FILTER_FIELDS)})


def view_fields_of(settings: SandboxSettings) -> list[ReportField]:
    """The report's view fields under the reading played: with or without the access override."""
    if settings.report_access_field:
        return VIEW_FIELDS
    return DEFAULT_VIEW_FIELDS


def report_field(sandbox: Sandbox, params: Params) -> Response:
    """GET /report/field: the operators and values one filter field accepts."""
    params.require("fieldReference")
    reference = (params.text("fieldReference") or "").lower()
    field = FILTER_FIELDS_BY_NAME.get(reference)
    if field is None:
        raise validation_error(f"fieldReference '{reference}' is not a known filter field.")
    values = STATUS_NAMES if field.name == "learningmoduleenrolments.statusid" else {}
    return JSONResponse(
        {
            "OPERATOROPTIONS": [option(value, display) for value, display in OPERATORS],
            "VALUEOPTIONS": [option(str(value), display) for value, display in values.items()],
            "DISPLAY": field.display,
            "NAME": field.name,
        }
    )


@dataclass(frozen=True)
class Filter:
    """A filter of a report run: the field and the values (lowercased) a row may have."""

    field: ReportField
    accepted: frozenset[str]
    value: str

    def matches(self, module: ModuleEnrolment) -> bool:
        return self.field.value(module).lower() in self.accepted


def run_report(sandbox: Sandbox, params: Params) -> Response:
    """POST /report/run: module enrolments passing every filter, rows keyed by DISPLAY names."""
    require_report(params)
    params.require("selectedFilterFields")
    view_fields = selected_view_fields(params.text("selectedViewFields"), view_fields_of(sandbox.settings))
    filters = parse_filters(params.text("selectedFilterFields") or "")
    modules = [
        module
        for module in sandbox.store.module_enrolments()
        if all(one_filter.matches(module) for one_filter in filters)
    ]
    page = report_page(sandbox.settings, modules, page_of(modules, params))
    return JSONResponse(
        {
            "DATA": [{field.display: field.value(module) for field in view_fields} for module in page],
            "ERRORMSG": "",
            "REPORTNAME": REPORT_NAME,
            "PATH": "",
            "SUCCESS": True,
            # COUNT is every matching row, not just this page (paging is undocumented; our choice).
            "COUNT": len(modules),
            "CONTENTTYPE": "application/json",
            "FILTERS": [
                {"VALUE2": "", "NAME": one_filter.field.name, "VALUE": one_filter.value} for one_filter in filters
            ],
            "DESCRIPTION": "JSON/Collection",
        }
    )


def selected_view_fields(selected: str | None, available: list[ReportField] = VIEW_FIELDS) -> list[ReportField]:
    """The view fields named in a comma-separated list (any case), or the default set; 412 for unknown names."""
    if selected is None:
        return DEFAULT_VIEW_FIELDS
    names = [name.strip().lower() for name in selected.split(",") if name.strip()]
    known = {field.name for field in available}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise validation_error(
            *(f"selectedViewFields: '{name}' is not a field of {REPORT_REFERENCE}." for name in unknown)
        )
    return [VIEW_FIELDS_BY_NAME[name] for name in names]


def parse_filters(text: str) -> list[Filter]:
    """selectedFilterFields: a JSON array of {name, value, operator} (keys in any case); 412 when malformed."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise validation_error(f"selectedFilterFields is not valid JSON: {error.msg}.") from error
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise validation_error("selectedFilterFields must be a JSON array of {name, value, operator} objects.")
    return [parse_filter({key.lower(): value for key, value in item.items()}) for item in items]


def parse_filter(item: dict[str, Any]) -> Filter:
    missing = [key for key in ("name", "value", "operator") if key not in item]
    if missing:
        raise validation_error(f"selectedFilterFields: a filter has no {', '.join(missing)}.")
    name = str(item["name"]).strip().lower()
    field = FILTER_FIELDS_BY_NAME.get(name)
    if field is None:
        raise validation_error(f"selectedFilterFields: '{name}' is not a filter field of {REPORT_REFERENCE}.")
    raw = item["value"]
    value = ",".join(map(str, raw)) if isinstance(raw, list) else "" if raw is None else str(raw)
    operator = str(item["operator"]).strip().lower()
    if operator in LIST_OPERATORS:
        accepted = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    elif operator in SINGLE_OPERATORS:
        accepted = frozenset({value.strip().lower()})
    else:
        raise validation_error(f"selectedFilterFields: operator '{item['operator']}' is not supported for {name}.")
    return Filter(field, accepted, value)


def page_of(modules: list[ModuleEnrolment], params: Params) -> list[ModuleEnrolment]:
    """The rows from offsetRows, at most displayLength (capped at 1000) of them; all rows when not paged."""
    offset = params.integer("offsetRows") or 0
    length = params.integer("displayLength")
    if offset < 0 or (length is not None and length < 1):
        raise validation_error("offsetRows must be 0 or more and displayLength 1 or more.")
    if length is None:
        return modules[offset:]
    return modules[offset : offset + min(length, MAX_DISPLAY_LENGTH)]


ACCESS_OVERRIDES = {"true": True, "false": False, "": None}


def update_module_enrolment(sandbox: Sandbox, params: Params) -> Response:
    """Change one module enrolment's access override and dates; an absent field stays as it is."""
    module = find_module(sandbox, params)
    changes = requested_module_changes(params)
    start_date = changes.get("start_date", module.start_date)
    end_date = changes.get("end_date", module.end_date)
    if start_date and end_date and end_date < start_date:
        raise validation_error(f"endDate {end_date} is before startDate {start_date}.")
    if not sandbox.settings.writes_swallowed and sandbox.store.update_module_enrolment(
        module.module_enrolment_id, changes
    ):
        sandbox.stats.record_write_applied()
    updated = sandbox.store.find_module_enrolment(module.module_enrolment_id)
    assert updated is not None
    return write_answer(sandbox.settings, JSONResponse(module_json(updated)))


def find_module(sandbox: Sandbox, params: Params) -> ModuleEnrolment:
    """The module enrolment named by moduleEnrolmentId; 412 unless contactId, enrolId and classId agree with it."""
    names = ("contactId", "enrolId", "classId", "moduleEnrolmentId")
    params.require(*names)
    contact_id, enrol_id, class_id, module_enrolment_id = (params.integer(name) for name in names)
    assert module_enrolment_id is not None
    module = sandbox.store.find_module_enrolment(module_enrolment_id)
    if module is None:
        raise validation_error(f"moduleEnrolmentId {module_enrolment_id} does not exist.")
    if (module.contact_id, module.enrol_id, module.class_id) != (contact_id, enrol_id, class_id):
        raise validation_error(
            f"moduleEnrolmentId {module_enrolment_id} belongs to contactId {module.contact_id}, "
            f"enrolId {module.enrol_id}, classId {module.class_id}; the request names contactId {contact_id}, "
            f"enrolId {enrol_id}, classId {class_id}."
        )
    return module


def requested_module_changes(params: Params) -> dict[str, Any]:
    """The changes the PUT asks for. accessOverride present but empty clears it; absent leaves it."""
    changes: dict[str, Any] = {}
    access = params.get("accessOverride")
    if access is not None:
        key = access.strip().lower()
        if key not in ACCESS_OVERRIDES:
            raise validation_error(f"accessOverride must be true, false or empty (to clear), not '{access}'.")
        changes["access_override"] = ACCESS_OVERRIDES[key]
    changes.update(params.date_changes("startDate", "endDate"))
    return changes


def module_json(module: ModuleEnrolment) -> dict[str, Any]:
    """The success body. The real body is undocumented: this shape (the current state) is the sandbox's choice."""
    return {
        "MODULEENROLMENTID": module.module_enrolment_id,
        "CONTACTID": module.contact_id,
        "ENROLID": module.enrol_id,
        "CLASSID": module.class_id,
        "MODULENAME": module.module_name,
        "ACCESSOVERRIDE": module.access_override,
        "STARTDATE": module.start_date,
        "ENDDATE": module.end_date,
        "STATUSID": module.status_id,
    }
