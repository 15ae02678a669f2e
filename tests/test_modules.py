"""The modules sheet kind: the report that finds module enrolments, comparing, and the PUT it sends."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fakes import endpoint, form_of, json_response, make_api, query_of, reference_sample

from batchupdate.client import Api, UnprovenWriteError
from batchupdate.errors import InputError
from batchupdate.kinds.base import Change, Row, Unresolved
from batchupdate.kinds.learning_plan import ModuleEnrolment, Modules

PARSERS = {column.name: column.parse for column in Modules.columns}
ACCESS_FIELD = "learningmoduleenrolments.accessoverride"
DISPLAY = {
    "contacts.contactid": "Contact ID",
    "contacts.fullname": "Full Name",
    "learningmoduleenrolments.moduleenrolmentid": "Module Enrolment ID",
    "learningmoduleenrolments.modulename": "Module Name",
    "learningmoduleenrolments.status": "Module Status",
    "learningmoduleenrolments.startdate": "Module Start Date",
    "learningmoduleenrolments.enddate": "Module End Date",
    "learningmoduleenrolments.commencementdate": "Commencement Date",
    "learningmoduleenrolments.completiondate": "Completion Date",
    "classes.classid": "Class ID",
    "classes.classdescriptor": "Class Descriptor",
    "enrolments.enrolid": "Enrolment ID",
    "enrolments.dateenrolled": "Date Enrolled",
    "enrolments.learningplanname": "Learning Plan Name",
}
STATUS_OPTIONS = [
    {"VALUE": "1", "DISPLAY": "Enrolled", "OPTGROUP": "", "REQUIRESVALUE2": False},
    {"VALUE": "2", "DISPLAY": "In Progress", "OPTGROUP": "", "REQUIRESVALUE2": False},
    {"VALUE": "3", "DISPLAY": "Completed", "OPTGROUP": "", "REQUIRESVALUE2": False},
    {"VALUE": "4", "DISPLAY": "Withdrawn", "OPTGROUP": "", "REQUIRESVALUE2": False},
]


def module_row(index: int = 0, /, **cells: object) -> Row:
    """A row parsed the way the sheet's cells are."""
    values = {name: parse(cells.get(name)) for name, parse in PARSERS.items()}
    return Row(index=index, line=index + 2, values=values)


def student_row(module_name: str | None = "Module 1 - Workplace Safety", **cells: object) -> Row:
    """A row for contact 700001 in class 32001 (unless told otherwise)."""
    return module_row(**{"contact_id": "700001", "class_id": "32001", "module_name": module_name, **cells})


@dataclass
class HeldModule:
    contact_id: int
    class_id: int
    module_enrolment_id: int
    name: str
    status_id: str = "1"
    access: str = ""
    start: str = ""
    end: str = ""
    enrol_id: int = 0


class FakeReports:
    """/report/fields, /report/field and /report/run for learningModuleEnrolments over a list of modules."""

    def __init__(
        self, modules: list[HeldModule], *, access_field: bool = False, keyed_by: str = "DISPLAY", page: int = 0
    ) -> None:
        self.modules = modules
        self.access_field = access_field
        self.keyed_by = keyed_by
        self.page = page  # answer at most this many rows per run (0: all)
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = endpoint(request)
        if path == "/report/fields":
            return json_response({"VIEWFIELDS": self.fields(), "FILTERFIELDS": self.fields()})
        if path == "/report/field":
            assert query_of(request)["fieldreference"] == "learningmoduleenrolments.statusid"
            return json_response(
                {
                    "NAME": "learningmoduleenrolments.statusid",
                    "DISPLAY": "Module Status",
                    "OPERATOROPTIONS": [],
                    "VALUEOPTIONS": STATUS_OPTIONS,
                }
            )
        if path == "/report/run" and request.method == "POST":
            return self.run(form_of(request))
        return json_response({"error": True, "messages": "Not Found.", "details": path}, 404)

    def fields(self) -> list[dict[str, str]]:
        names = {**DISPLAY, **({ACCESS_FIELD: "Access Override"} if self.access_field else {})}
        return [{"DISPLAY": display, "NAME": name, "GROUP": "Learning Plan"} for name, display in names.items()]

    def run(self, form: dict[str, str]) -> httpx.Response:
        filters = {f["name"]: f for f in json.loads(form["selectedFilterFields"])}
        contacts = set(filters["contacts.contactid"]["value"].split(","))
        classes = set(filters["classes.classid"]["value"].split(","))
        statuses = set(filters["learningmoduleenrolments.statusid"]["value"].split(","))
        matching = [
            module
            for module in self.modules
            if str(module.contact_id) in contacts and str(module.class_id) in classes and module.status_id in statuses
        ]
        offset = int(form.get("offsetRows", 0))
        shown = matching[offset : offset + self.page] if self.page else matching
        data = [self.data_row(module, form["selectedViewFields"].split(",")) for module in shown]
        return json_response(
            {"DATA": data, "COUNT": len(matching), "SUCCESS": True, "ERRORMSG": "", "REPORTNAME": "Module Enrolments"}
        )

    def data_row(self, module: HeldModule, view_fields: list[str]) -> dict[str, object]:
        values = {
            "contacts.contactid": module.contact_id,
            "contacts.fullname": f"Student {module.contact_id}",
            "learningmoduleenrolments.moduleenrolmentid": module.module_enrolment_id,
            "learningmoduleenrolments.modulename": module.name,
            "learningmoduleenrolments.status": "Enrolled",
            "learningmoduleenrolments.startdate": module.start,
            "learningmoduleenrolments.enddate": module.end,
            "learningmoduleenrolments.commencementdate": "",
            "learningmoduleenrolments.completiondate": "",
            "classes.classid": module.class_id,
            "classes.classdescriptor": "Cert IV in WHS - Term 1",
            "enrolments.enrolid": module.enrol_id or 500000 + module.contact_id % 1000,
            "enrolments.dateenrolled": "2026-01-05",
            "enrolments.learningplanname": "WHS plan",
            ACCESS_FIELD: module.access,
        }
        display = {**DISPLAY, ACCESS_FIELD: "Access Override"}
        key = (lambda name: display[name]) if self.keyed_by == "DISPLAY" else (lambda name: name)
        return {key(name): values[name] for name in view_fields if name in values}

    def runs(self) -> list[dict[str, str]]:
        return [form_of(request) for request in self.requests if endpoint(request) == "/report/run"]


def prepared(reports: FakeReports, statuses: list[str] | None = None) -> tuple[Modules, Api]:
    kind, api = Modules(), make_api(reports.handler)
    asyncio.run(kind.prepare(api, statuses))
    return kind, api


def resolve(reports: FakeReports, rows: list[Row], statuses: list[str] | None = None) -> dict[int, Any]:
    kind, api = prepared(reports, statuses)
    return asyncio.run(kind.resolve(api, rows))


def plan_modules(contact_id: int = 700001, class_id: int = 32001, **held: Any) -> list[HeldModule]:
    return [
        HeldModule(contact_id, class_id, 600001, "Module 1 - Workplace Safety", **held),
        HeldModule(contact_id, class_id, 600002, "Module 2 - Risk Assessment", **held),
    ]


# --- preparing: the report's fields and the module statuses ------------------------------------------------


def test_prepare_learns_display_names_for_the_report_fields() -> None:
    kind, _ = prepared(FakeReports([]))
    assert kind.display_to_name["module name"] == "learningmoduleenrolments.modulename"
    assert kind.display_to_name["contact id"] == "contacts.contactid"
    assert kind.display_to_name["learningmoduleenrolments.modulename"] == "learningmoduleenrolments.modulename"


@pytest.mark.parametrize("offered", [True, False])
def test_the_access_override_is_read_only_when_the_report_offers_it(offered: bool) -> None:
    reports = FakeReports(plan_modules(access="true"), access_field=offered)
    kind, api = prepared(reports)
    assert kind.access_field == (ACCESS_FIELD if offered else None)
    [target] = asyncio.run(kind.resolve(api, [student_row(access="unlocked")])).values()
    [run] = reports.runs()
    assert (ACCESS_FIELD in run["selectedViewFields"].split(",")) == offered
    assert target.access == ("true" if offered else None)


@pytest.mark.parametrize(
    ("names", "ids"),
    [
        (["Completed"], "3"),
        (["completed", " in progress "], "3,2"),
        (["Withdrawn", "Enrolled"], "4,1"),
    ],
)
def test_module_status_names_become_status_ids_in_the_report_filter(names: list[str], ids: str) -> None:
    reports = FakeReports(plan_modules(status_id="3"))
    resolve(reports, [student_row(access="locked")], names)
    [run] = reports.runs()
    status_filter = next(f for f in json.loads(run["selectedFilterFields"]) if f["name"].endswith("statusid"))
    assert status_filter["value"] == ids


def test_an_unknown_module_status_is_an_input_error_listing_the_valid_names() -> None:
    with pytest.raises(InputError) as caught:
        prepared(FakeReports([]), ["Enroled"])
    message = str(caught.value)
    assert "Enroled" in message
    assert "Enrolled, In Progress, Completed, Withdrawn" in message


def test_without_module_status_only_enrolled_and_in_progress_modules_are_looked_for() -> None:
    reports = FakeReports(plan_modules())
    resolve(reports, [student_row(access="locked")])
    [run] = reports.runs()
    assert {"name": "learningmoduleenrolments.statusid", "value": "1,2", "operator": "text IN"} in json.loads(
        run["selectedFilterFields"]
    )
    assert not any(endpoint(request) == "/report/field" for request in reports.requests)


# --- resolving: one report per chunk of students -----------------------------------------------------------


def test_one_report_run_per_hundred_students_with_in_filters() -> None:
    contacts = list(range(700001, 700251))
    modules = [m for contact in contacts for m in plan_modules(contact, 32001 + contact % 2)]
    for number, module in enumerate(modules):
        module.module_enrolment_id = 600001 + number  # each student's module enrolment is its own record
    reports = FakeReports(modules)
    rows = [
        module_row(
            index,
            contact_id=contact,
            class_id=32001 + contact % 2,
            module_name="Module 2 - Risk Assessment",
            access="unlocked",
        )
        for index, contact in enumerate(contacts)
    ]
    targets = resolve(reports, rows)
    assert all(isinstance(targets[row.index], ModuleEnrolment) for row in rows)
    runs = reports.runs()
    assert len(runs) == 3
    asked: list[int] = []
    for run in runs:
        assert run["reportReference"] == "learningModuleEnrolments"
        filters = {f["name"]: f for f in json.loads(run["selectedFilterFields"])}
        chunk = [int(value) for value in filters["contacts.contactid"]["value"].split(",")]
        assert filters["contacts.contactid"]["operator"] == "IN"
        assert len(chunk) <= 100
        assert filters["classes.classid"] == {"name": "classes.classid", "value": "32001,32002", "operator": "IN"}
        asked += chunk
    assert sorted(asked) == contacts


@pytest.mark.parametrize("keyed_by", ["DISPLAY", "NAME"])
def test_report_rows_keyed_by_display_names_or_by_field_names_read_the_same(keyed_by: str) -> None:
    reports = FakeReports(
        [
            HeldModule(
                700001,
                32001,
                600002,
                "Module 2 - Risk Assessment",
                start="2026-02-03",
                end="2026-06-30",
                enrol_id=510001,
            )
        ],
        keyed_by=keyed_by,
    )
    [target] = resolve(reports, [student_row("Module 2 - Risk Assessment", end_date="01/07/2026")]).values()
    assert target == ModuleEnrolment(
        contact_id=700001,
        class_id=32001,
        enrol_id=510001,
        module_enrolment_id=600002,
        module_name="Module 2 - Risk Assessment",
        status="Enrolled",
        access=None,
        start_date=dt.date(2026, 2, 3),
        end_date=dt.date(2026, 6, 30),
    )


@pytest.mark.parametrize(
    "asked", ["module 2 - risk assessment", "  MODULE 2  -  Risk   Assessment ", "Module\u00a02 - Risk Assessment"]
)
def test_module_names_match_ignoring_case_and_odd_spacing(asked: str) -> None:
    reports = FakeReports(plan_modules())
    [target] = resolve(reports, [student_row(asked, access="locked")]).values()
    assert isinstance(target, ModuleEnrolment)
    assert target.module_enrolment_id == 600002


def test_a_module_is_found_by_its_enrolment_id_too() -> None:
    reports = FakeReports(plan_modules())
    [target] = resolve(reports, [student_row(None, module_enrolment_id="600001", access="locked")]).values()
    assert target.module_name == "Module 1 - Workplace Safety"


def test_an_unknown_module_name_fails_listing_the_students_modules() -> None:
    reports = FakeReports(plan_modules())
    [failure] = resolve(reports, [student_row("Module 9 - Fire Safety", access="locked")]).values()
    assert isinstance(failure, Unresolved)
    assert "Module 9 - Fire Safety" in failure.reason
    assert "Module 1 - Workplace Safety; Module 2 - Risk Assessment" in failure.reason


def test_a_student_with_no_modules_in_the_class_fails_naming_contact_class_and_statuses() -> None:
    reports = FakeReports(plan_modules())
    [failure] = resolve(reports, [student_row(class_id="39999", access="locked")]).values()
    assert isinstance(failure, Unresolved)
    assert (
        "contact 700001" in failure.reason and "class 39999" in failure.reason and "--module-status" in failure.reason
    )


def test_a_failed_report_fails_its_rows_with_the_reports_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if endpoint(request) == "/report/fields":
            return json_response({"VIEWFIELDS": [], "FILTERFIELDS": []})
        return json_response({"DATA": [], "COUNT": 0, "SUCCESS": False, "ERRORMSG": "Invalid filter field."})

    kind, api = Modules(), make_api(handler)
    asyncio.run(kind.prepare(api, None))
    rows = [student_row("Module 1", access="locked")]
    [failure] = asyncio.run(kind.resolve(api, rows)).values()
    assert isinstance(failure, Unresolved)
    assert "could not run the module report" in failure.reason
    assert "Invalid filter field." in failure.reason


def test_a_report_answered_in_pages_is_read_to_the_end() -> None:
    modules = [HeldModule(700001, 32001, 600000 + n, f"Module {n}") for n in range(1, 6)]
    reports = FakeReports(modules, page=2)
    [target] = resolve(reports, [student_row("Module 5", access="locked")]).values()
    assert isinstance(target, ModuleEnrolment) and target.module_enrolment_id == 600005
    assert [run.get("offsetRows") for run in reports.runs()] == [None, "2", "4"]


# --- comparing and writing ----------------------------------------------------------------------------------


def held_module(**overrides: Any) -> ModuleEnrolment:
    values: dict[str, Any] = {
        "contact_id": 700001,
        "class_id": 32001,
        "enrol_id": 510001,
        "module_enrolment_id": 600001,
        "module_name": "Module 1 - Workplace Safety",
        "status": "Enrolled",
        "access": "",
        "start_date": dt.date(2026, 2, 3),
        "end_date": dt.date(2026, 6, 30),
    }
    return ModuleEnrolment(**{**values, **overrides})


IDENTITY = {"contactId": "700001", "enrolId": "510001", "classId": "32001", "moduleEnrolmentId": "600001"}


@pytest.mark.parametrize(
    ("cells", "holding", "changes", "fields"),
    [
        ({"access": "unlocked"}, "", [Change("access", "none", "unlocked")], {"accessOverride": "true"}),
        ({"access": " Locked "}, "true", [Change("access", "unlocked", "locked")], {"accessOverride": "false"}),
        ({"access": "clear"}, "false", [Change("access", "locked", "none")], {"accessOverride": ""}),
        ({"access": "unlocked"}, None, [Change("access", "unknown", "unlocked")], {"accessOverride": "true"}),
        ({"access": "clear"}, None, [Change("access", "unknown", "none")], {"accessOverride": ""}),
        (
            {"end_date": "31/07/2026"},
            "true",
            [Change("end_date", "2026-06-30", "2026-07-31")],
            {"endDate": "2026-07-31"},
        ),
        (
            {"access": "locked", "start_date": "2026-02-10"},
            None,
            [Change("access", "unknown", "locked"), Change("start_date", "2026-02-03", "2026-02-10")],
            {"accessOverride": "false", "startDate": "2026-02-10"},
        ),
    ],
)
def test_write_sends_only_what_changes(
    cells: dict[str, str], holding: str | None, changes: list[Change], fields: dict[str, str]
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        form = form_of(request)  # answers with the module enrolment as changed, as useCache=false asks
        keys = {"accessOverride": "ACCESSOVERRIDE", "startDate": "STARTDATE", "endDate": "ENDDATE"}
        return json_response({"MODULEENROLMENTID": 600001, **{keys[k]: v for k, v in form.items() if k in keys}})

    row = student_row(**cells)
    target = held_module(access=holding)
    assert Modules().compare(row, target) == changes
    asyncio.run(Modules().write(make_api(handler), row, target))
    [request] = sent
    assert (request.method, endpoint(request)) == ("PUT", "/v2/learningPlan/modules/enrolments")
    assert form_of(request) == {**IDENTITY, "useCache": "false", **fields}


@pytest.mark.parametrize(
    ("cells", "holding"),
    [
        ({"access": "unlocked"}, "true"),
        ({"access": "LOCKED"}, "false"),
        ({"access": "clear"}, ""),
        ({"start_date": "03/02/2026", "end_date": "2026-06-30"}, None),
    ],
)
def test_a_module_already_so_is_unchanged(cells: dict[str, str], holding: str | None) -> None:
    row = student_row(**cells)
    assert Modules().compare(row, held_module(access=holding)) == []


def test_a_blank_access_cell_leaves_the_override_out_of_the_put() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    row = student_row("Module 1", start_date="10/02/2026")
    with pytest.raises(UnprovenWriteError, match="HTTP 204 with no body"):  # a 204 proves nothing: re-read
        asyncio.run(Modules().write(make_api(handler), row, held_module(access=None)))
    assert "accessOverride" not in form_of(sent[0])
    assert form_of(sent[0])["startDate"] == "2026-02-10"


def test_result_values_show_unknown_access_when_the_report_cannot_tell() -> None:
    values = Modules().result_values(held_module(access=None))
    assert values == {
        "student_name": "",
        "resolved_module_enrolment_id": "600001",
        "enrol_id": "510001",
        "before_access": "unknown",
        "before_start_date": "2026-02-03",
        "before_end_date": "2026-06-30",
    }
    assert Modules().result_values(held_module(access="false"))["before_access"] == "locked"


def test_end_before_the_held_start_is_a_conflict() -> None:
    row = student_row("Module 1", end_date="01/02/2026")
    message = Modules().conflict(row, held_module())
    assert message is not None and "2026-02-01" in message and "2026-02-03" in message


# --- the official sample bodies ---------------------------------------------------------------------------


def test_the_official_report_fields_sample_is_understood() -> None:
    body = reference_sample("report-fields")

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(body)

    kind = Modules()
    asyncio.run(kind.prepare(make_api(handler), None))
    assert kind.display_to_name["contact id"] == "vmcontacts.contactid"
    assert kind.display_to_name["gender"] == "participantdetails.gender"
    assert kind.access_field is None


def test_the_official_report_run_sample_parses_without_error() -> None:
    body = reference_sample("report-run")

    def handler(request: httpx.Request) -> httpx.Response:
        return json_response(body)

    kind = Modules()
    rows = [student_row("Module 1", access="locked")]
    [failure] = asyncio.run(kind.resolve(make_api(handler), rows)).values()
    # Its rows are a qualification report's, with no module columns: no module, but no crash either, and
    # its COUNT of 1 is not met by the module enrolments it holds (none), so nothing is matched against it.
    assert isinstance(failure, Unresolved) and "0 of the 1 module enrolments" in failure.reason


def test_the_official_report_field_sample_gives_its_value_options() -> None:
    body = reference_sample("report-field")

    def handler(request: httpx.Request) -> httpx.Response:
        if endpoint(request) == "/report/fields":
            return json_response({"VIEWFIELDS": [], "FILTERFIELDS": []})
        return json_response(body)

    kind = Modules()
    asyncio.run(kind.prepare(make_api(handler), ["female", "Other"]))
    assert kind.status_ids == ("F", "X")
    with pytest.raises(InputError, match="Male, Female, Other"):
        asyncio.run(Modules().prepare(make_api(handler), ["Enrolled"]))
