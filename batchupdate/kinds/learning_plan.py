"""Learning-plan module enrolments: unlock, lock, clear the override of, or re-date a student's module.

Finding the record: the `learningModuleEnrolments` report, run once per chunk of students with `IN`
filters. Its rows may be keyed by field NAMEs or DISPLAY names, so both are mapped to NAMEs first.
`/report/run` documents no paging, so an answer counts only when complete: the distinct module enrolments
it holds equal its COUNT. An incomplete chunk is run again in smaller parts, down to one student.
Writing: `PUT /v2/learningPlan/modules/enrolments`, sending only the fields that change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from batchupdate.cells import CellError, as_int, clean_text, parse_date, parse_id
from batchupdate.client import Api, UnprovenWriteError, describe_error, truncate
from batchupdate.errors import InputError, RejectedError, RetriableApiError
from batchupdate.kinds.base import (
    DATES_IN_ORDER,
    END_DATE_ALIASES,
    START_DATE_ALIASES,
    Change,
    Column,
    Row,
    RowRule,
    Unresolved,
    date_changes,
    date_fields,
    dates_conflict,
    format_date,
    named,
    required_columns,
    student_and_class,
)
from batchupdate.kinds.units import class_contacts
from batchupdate.learnt import learnt_readings

REPORT = "learningModuleEnrolments"
RUN_PATH, FIELDS_PATH, FIELD_PATH = "/report/run", "/report/fields", "/report/field"
WRITE_PATH = "/v2/learningPlan/modules/enrolments"
STATUS_FIELD = "learningmoduleenrolments.statusid"
DEFAULT_STATUS_IDS = ("1", "2")  # Enrolled, In Progress (the guide's filter)
CONTACTS_PER_REPORT = 100  # ~6 modules a student keeps a chunk well under a report page of 1,000 rows
REPORT_PAGE = 1000
VIEW_FIELDS = (
    "contacts.contactid",
    "contacts.fullname",
    "learningmoduleenrolments.moduleenrolmentid",
    "learningmoduleenrolments.modulename",
    "learningmoduleenrolments.status",
    "learningmoduleenrolments.startdate",
    "learningmoduleenrolments.enddate",
    "learningmoduleenrolments.commencementdate",
    "learningmoduleenrolments.completiondate",
    "classes.classid",
    "classes.classdescriptor",
    "enrolments.enrolid",
    "enrolments.dateenrolled",
    "enrolments.learningplanname",
)


class Access(StrEnum):
    """What a sheet's access cell may ask for; ``override`` is the accessOverride value that does it."""

    UNLOCKED = "unlocked"
    LOCKED = "locked"
    CLEAR = "clear"

    @property
    def override(self) -> str:
        return {"unlocked": "true", "locked": "false", "clear": ""}[self.value]


# A module's accessOverride as the results show it; "none" once cleared, "unknown" if the report cannot show it.
ACCESS_SHOWN = {"true": "unlocked", "false": "locked", "": "none"}
UNKNOWN = "unknown"


def parse_access(cell: object) -> Access | None:
    """unlocked, locked or clear (any case); blank leaves the access override alone."""
    text = clean_text(cell).lower()
    if not text:
        return None
    try:
        return Access(text)
    except ValueError:
        raise CellError("is not an access word; use unlocked, locked or clear (or leave it blank)") from None


def parse_module_name(cell: object) -> str | None:
    """A module name, compared trimmed, with runs of spaces folded and case ignored."""
    name = " ".join(clean_text(cell).split())
    if not name.isprintable() or len(name) > 255:
        raise CellError("is not a module name; copy the name as aXcelerate shows it")
    return name or None


def same_module_name(first: str, second: str) -> bool:
    """Module names match trimmed, spaces folded and case ignored."""
    return " ".join(first.split()).casefold() == " ".join(second.split()).casefold()


@dataclass(frozen=True)
class ModuleEnrolment:
    """A student's module enrolment as the report shows it."""

    contact_id: int
    class_id: int
    enrol_id: int
    module_enrolment_id: int
    module_name: str
    status: str
    access: str | None  # "true", "false", "" (no override), or None when the report cannot show it
    start_date: dt.date | None
    end_date: dt.date | None
    # Names for people (exports, plans); not part of what the record holds, so not compared.
    student_name: str = field(default="", compare=False)
    class_name: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[object, ...]:
        return (self.module_enrolment_id,)


@dataclass(frozen=True)
class ReportAnswer:
    """What one report run gave: its module enrolments, whether they are all COUNT says, and how many rows came."""

    modules: list[ModuleEnrolment]
    count: int | None
    rows: int  # rows in the first answer: the most one run gives when it is incomplete

    @property
    def complete(self) -> bool:
        return self.count is not None and len({m.module_enrolment_id for m in self.modules}) == self.count

    def shortfall(self, asked: str = "this student alone") -> str:
        held = len({m.module_enrolment_id for m in self.modules})
        if self.count is None:
            return f"the module report gave {held} rows and no COUNT, so it cannot be known to be complete"
        return (
            f"the module report gave {held} of the {self.count} module enrolments it counted (COUNT), "
            f"even asked for {asked}"
        )


MODULE_NAMED_BY = ("module_name", "module_enrolment_id")
MODULE_CHANGES = ("access", "start_date", "end_date")


@dataclass
class Modules:
    """The modules sheet kind; remembers the report's field names and status ids for one run."""

    name: str = "modules"
    distinctive: frozenset[str] = frozenset({"module_name", "module_enrolment_id", "access"})
    columns: tuple[Column, ...] = (
        *student_and_class("32001"),
        # The report's field NAMEs (learningmoduleenrolments.*) and the v2 PUT's accessOverride are aXcelerate's.
        Column(
            "module_name",
            parse_module_name,
            "Module 1 - Workplace Safety",
            aliases=("Module", "Learning Module", "Learning Module Name", "learningmoduleenrolments.modulename"),
        ),
        Column(
            "module_enrolment_id",
            parse_id,
            "600001",
            aliases=("Module Enrollment ID", "learningmoduleenrolments.moduleenrolmentid"),
        ),
        Column("access", parse_access, "unlocked", aliases=("Access Override", "Module Access")),
        Column(
            "start_date",
            parse_date,
            "03/02/2026",
            aliases=(*START_DATE_ALIASES, "Module Start Date", "learningmoduleenrolments.startdate"),
        ),
        Column(
            "end_date",
            parse_date,
            "28/11/2026",
            aliases=(*END_DATE_ALIASES, "Module End Date", "learningmoduleenrolments.enddate"),
        ),
    )
    template_columns: tuple[str, ...] = ("contact_id", "class_id", "module_name", "access", "start_date", "end_date")
    required: tuple[tuple[str, ...], ...] = required_columns(MODULE_NAMED_BY, MODULE_CHANGES)
    changes: tuple[str, ...] = MODULE_CHANGES
    rules: tuple[RowRule, ...] = (
        named("module", MODULE_NAMED_BY, "fill in the module's name"),
        # A row that leaves every value blank asks for nothing: it is looked up and comes out unchanged (an
        # export's rows that nobody filled in), never invalid.
        DATES_IN_ORDER,
    )
    # The student's name is added before these by the pipeline where the sheet lacks it (pipeline.result_columns).
    result_columns: tuple[str, ...] = (
        "resolved_module_enrolment_id",
        "enrol_id",
        "before_access",
        "before_start_date",
        "before_end_date",
    )
    undo_columns: tuple[tuple[str, str], ...] = (
        ("contact_id", "contact_id"),
        ("class_id", "class_id"),
        ("module_enrolment_id", "resolved_module_enrolment_id"),
    )
    status_ids: tuple[str, ...] = DEFAULT_STATUS_IDS
    status_names: str = "Enrolled or In Progress"
    display_to_name: dict[str, str] = field(default_factory=dict)
    access_field: str | None = None
    prepared: bool = False
    # Learnt this run: whether /report/run pages with displayLength/offsetRows (None until an answer needed it).
    report_pages: bool | None = None

    def identity(self, row: Row) -> tuple[object, ...]:
        name = row["module_name"]
        return (row["contact_id"], row["class_id"], name.casefold() if name else row["module_enrolment_id"])

    def describe(self, row: Row) -> str:
        module = row["module_name"] or f"module enrolment {row['module_enrolment_id']}"
        return f"contact {row['contact_id']}, class {row['class_id']}, module {module!r}"

    async def prepare(self, api: Api, statuses: Sequence[str] | None) -> None:
        fields = await api.get(FIELDS_PATH, {"reportReference": REPORT})
        view_fields = _upper_keys(fields).get("VIEWFIELDS") or []
        for view_field in view_fields:
            entry = _upper_keys(view_field)
            name, display = str(entry.get("NAME", "")).lower(), str(entry.get("DISPLAY", "")).lower()
            if name:
                self.display_to_name[display or name] = name
                self.display_to_name[name] = name
        # The report may or may not offer the current access override (undocumented): use it where it does.
        self.access_field = next(
            (name for name in self.display_to_name.values() if "accessoverride" in name.replace("_", "")), None
        )
        if statuses:
            self.status_ids, self.status_names = await _status_ids(api, statuses)
        # doctor found report runs ignore paging here: no paging probe (answers are still checked for COUNT).
        if learnt_readings(str(api.http.base_url)).get("report_paging", "").endswith("-ignored"):
            self.report_pages = False
        self.prepared = True

    async def resolve(self, api: Api, rows: Sequence[Row]) -> dict[int, ModuleEnrolment | Unresolved]:
        contacts = sorted({row["contact_id"] for row in rows})
        classes = sorted({row["class_id"] for row in rows})
        found: dict[tuple[int, int], list[ModuleEnrolment]] = {}
        errors: dict[int, str] = {}
        chunks = [
            contacts[start : start + CONTACTS_PER_REPORT] for start in range(0, len(contacts), CONTACTS_PER_REPORT)
        ]
        await asyncio.gather(*(self._read_complete(api, chunk, classes, found, errors) for chunk in chunks))
        return {
            row.index: Unresolved(errors[row["contact_id"]]) if row["contact_id"] in errors else self._match(row, found)
            for row in rows
        }

    async def holdings(self, api: Api, class_ids: Sequence[int]) -> list[ModuleEnrolment]:
        """Every module enrolment (of the run's statuses) the classes hold now, from complete report answers only."""
        if not self.prepared:
            await self.prepare(api, None)
        found: dict[tuple[int, int], list[ModuleEnrolment]] = {}
        await self._hold_classes(api, sorted(set(class_ids)), found)
        return sorted((m for modules in found.values() for m in modules), key=lambda m: m.key)

    async def _hold_classes(
        self, api: Api, classes: Sequence[int], found: dict[tuple[int, int], list[ModuleEnrolment]]
    ) -> None:
        """Classes in halves until each answer is complete; a class alone still incomplete goes by its students."""
        answer = await self._report(api, None, classes)
        if answer.complete:
            _add(found, answer.modules)
            return
        if len(classes) > 1:
            await asyncio.gather(*(self._hold_classes(api, part, found) for part in _split(classes, answer)))
            return
        contacts = await class_contacts(api, classes[0])
        if not contacts:
            raise RejectedError(
                f"could not read class {classes[0]}'s modules completely: "
                f"{answer.shortfall(f'class {classes[0]} alone')}, and the class lists no students to ask one by one"
            )
        errors: dict[int, str] = {}
        await self._read_complete(api, contacts, classes, found, errors)
        if errors:
            contact, reason = next(iter(errors.items()))
            raise RejectedError(f"could not read class {classes[0]}'s modules completely: contact {contact}: {reason}")

    async def _read_complete(
        self,
        api: Api,
        contacts: Sequence[int],
        classes: Sequence[int],
        found: dict[tuple[int, int], list[ModuleEnrolment]],
        errors: dict[int, str],
    ) -> None:
        """Run the report for these students; an incomplete answer is run again in smaller parts, down to one."""
        if not contacts:
            return
        try:
            answer = await self._report(api, contacts, classes)
        except (RejectedError, RetriableApiError, ValueError) as exc:
            reason = describe_error(exc) if isinstance(exc, RejectedError | RetriableApiError) else str(exc)
            errors.update(dict.fromkeys(contacts, f"could not run the module report: {reason}"))
            return
        if answer.complete:
            _add(found, answer.modules)
        elif len(contacts) == 1:
            errors[contacts[0]] = (
                f"{answer.shortfall()}; no row is matched against a partial answer: run `batchupdate doctor` "
                "and ask aXcelerate support why the learningModuleEnrolments report leaves rows out"
            )
        else:
            parts = _split(contacts, answer)
            await asyncio.gather(*(self._read_complete(api, part, classes, found, errors) for part in parts))

    def _match(self, row: Row, found: Mapping[tuple[int, int], list[ModuleEnrolment]]) -> ModuleEnrolment | Unresolved:
        modules = found.get((row["contact_id"], row["class_id"]), [])
        if not modules:
            return Unresolved(
                f"contact {row['contact_id']} has no module enrolments that are {self.status_names} in class "
                f"{row['class_id']}; check contact_id and class_id (or choose statuses with --module-status)"
            )
        wanted_id, wanted_name = row["module_enrolment_id"], row["module_name"]
        matches = [
            module
            for module in modules
            if (wanted_id is None or module.module_enrolment_id == wanted_id)
            and (wanted_name is None or same_module_name(module.module_name, wanted_name))
        ]
        if len(matches) == 1:
            return matches[0]
        names = "; ".join(sorted(module.module_name for module in modules))
        if len(matches) > 1:
            return Unresolved(
                f"{len(matches)} modules match that name; give module_enrolment_id to pick one (modules: {names})"
            )
        asked = clean_text(row["module_name"] or row["module_enrolment_id"])
        return Unresolved(
            f"no module {asked!r} for contact {row['contact_id']} in class {row['class_id']}; "
            f"their modules are: {names}"
        )

    def compare(self, row: Row, target: ModuleEnrolment) -> list[Change]:
        changes = []
        if row["access"] is not None:
            wanted = row["access"].override
            if target.access is None:
                changes.append(Change("access", UNKNOWN, ACCESS_SHOWN[wanted]))
            elif target.access != wanted:
                changes.append(Change("access", ACCESS_SHOWN[target.access], ACCESS_SHOWN[wanted]))
        return [*changes, *date_changes(row, target.start_date, target.end_date)]

    def conflict(self, row: Row, target: ModuleEnrolment) -> str | None:
        return dates_conflict(row, target.start_date, target.end_date)

    async def write(self, api: Api, row: Row, target: ModuleEnrolment) -> str:
        form: dict[str, object] = {
            "contactId": target.contact_id,
            "enrolId": target.enrol_id,
            "classId": target.class_id,
            "moduleEnrolmentId": target.module_enrolment_id,
            "useCache": "false",
        }
        changed = {change.column for change in self.compare(row, target)}
        if "access" in changed:
            form["accessOverride"] = row["access"].override  # "" clears: present-but-empty is a change
        form.update(date_fields(row, changed, "startDate", "endDate"))
        reply = await api.put_reply(WRITE_PATH, form)
        # The response is undocumented (useCache=false asks for the module enrolment): only a reply holding
        # the module enrolment with the wanted values proves the write; anything else is re-read.
        if self._holds_wanted(reply.body, row, target, changed):
            api.write_proof.answered()
            return truncate(json.dumps(reply.body, default=str))
        if api.write_proof.trusted(reply):
            return reply.describe()
        raise UnprovenWriteError(reply)

    def _holds_wanted(self, body: object, row: Row, target: ModuleEnrolment, changed: set[str]) -> bool:
        """Whether a write's reply is this module enrolment holding every value the row sets."""
        if isinstance(body, list) and len(body) == 1:
            body = body[0]
        held = _upper_keys(body)
        if isinstance(held.get("DATA"), dict | list):
            return self._holds_wanted(held["DATA"], row, target, changed)
        if as_int(held.get("MODULEENROLMENTID")) != target.module_enrolment_id:
            return False
        if "access" in changed and (
            "ACCESSOVERRIDE" not in held or _access(held["ACCESSOVERRIDE"]) != row["access"].override
        ):
            return False
        dates = (("start_date", "STARTDATE"), ("end_date", "ENDDATE"))
        return all(column not in changed or _report_date(held.get(key)) == row[column] for column, key in dates)

    async def reread(self, api: Api, row: Row, target: ModuleEnrolment) -> ModuleEnrolment | None:
        answer = await self._report(api, [target.contact_id], [target.class_id])
        if not answer.complete:
            raise ValueError(answer.shortfall())
        current = next((m for m in answer.modules if m.module_enrolment_id == target.module_enrolment_id), None)
        unknown_access = current is not None and current.access is None and row["access"] is not None
        if current is not None and unknown_access and all(c.column == "access" for c in self.compare(row, current)):
            # Everything else holds; the access override is what the report cannot show.
            raise ValueError("the module report shows no access override, so the new access cannot be read back")
        return current

    def restore(self, column: str, before: str) -> str | None:
        if column == "access":
            return {"unlocked": Access.UNLOCKED, "locked": Access.LOCKED, "none": Access.CLEAR}.get(before)
        return before or None

    def result_values(self, target: ModuleEnrolment | None) -> dict[str, str]:
        if target is None:
            return {}
        return {
            "student_name": target.student_name,  # the plan table, and results where the sheet has no name
            "resolved_module_enrolment_id": str(target.module_enrolment_id),
            "enrol_id": str(target.enrol_id),
            "before_access": UNKNOWN if target.access is None else ACCESS_SHOWN[target.access],
            "before_start_date": format_date(target.start_date),
            "before_end_date": format_date(target.end_date),
        }

    async def _report(self, api: Api, contacts: Sequence[int] | None, classes: Sequence[int]) -> ReportAnswer:
        """One report for these students (None: every student) in these classes, paged where the tenant pages."""
        view_fields = [*VIEW_FIELDS, *([self.access_field] if self.access_field else [])]
        filters = [{"name": STATUS_FIELD, "value": ",".join(self.status_ids), "operator": "text IN"}]
        if contacts is not None:
            filters.append({"name": "contacts.contactid", "value": _listed(contacts), "operator": "IN"})
        filters.append({"name": "classes.classid", "value": _listed(classes), "operator": "IN"})
        form = {
            "reportReference": REPORT,
            "selectedViewFields": ",".join(view_fields),
            "selectedFilterFields": json.dumps(filters),
        }
        body = await self._run(api, form)
        total = as_int(body.get("COUNT"))
        data = [row for row in body.get("DATA") or [] if isinstance(row, Mapping)]
        modules = {m.module_enrolment_id: m for m in map(self._module, data) if m is not None}
        first_rows = len(data)
        while total is not None and len(modules) < total and self.report_pages is not False:
            # More rows than one answer holds: page the way saved reports do (undocumented for runs).
            paged = {**form, "displayLength": str(REPORT_PAGE), "offsetRows": str(len(modules))}
            page = [row for row in (await self._run(api, paged)).get("DATA") or [] if isinstance(row, Mapping)]
            more = [m for m in map(self._module, page) if m is not None]
            if not more or any(m.module_enrolment_id in modules for m in more):
                self.report_pages = False  # paging brought nothing new or repeated rows: it is ignored here
                break
            self.report_pages = True
            modules.update((m.module_enrolment_id, m) for m in more)
        return ReportAnswer(list(modules.values()), total, first_rows)

    async def _run(self, api: Api, form: Mapping[str, object]) -> dict[str, Any]:
        body = _upper_keys(await api.post(RUN_PATH, form))
        if body.get("SUCCESS") is False:
            raise RejectedError("the module report failed", details=str(body.get("ERRORMSG") or ""))
        return body

    def _module(self, report_row: Mapping[str, Any]) -> ModuleEnrolment | None:
        values = {
            self.display_to_name.get(str(key).lower(), str(key).lower()): value for key, value in report_row.items()
        }
        ids = [
            as_int(values.get(name))
            for name in (
                "contacts.contactid",
                "classes.classid",
                "enrolments.enrolid",
                "learningmoduleenrolments.moduleenrolmentid",
            )
        ]
        if any(value is None for value in ids):
            return None
        contact_id, class_id, enrol_id, module_enrolment_id = (int(value) for value in ids if value is not None)
        return ModuleEnrolment(
            contact_id=contact_id,
            class_id=class_id,
            enrol_id=enrol_id,
            module_enrolment_id=module_enrolment_id,
            module_name=" ".join(clean_text(values.get("learningmoduleenrolments.modulename")).split()),
            status=clean_text(values.get("learningmoduleenrolments.status")),
            access=_access(values[self.access_field]) if self.access_field in values else None,
            start_date=_report_date(values.get("learningmoduleenrolments.startdate")),
            end_date=_report_date(values.get("learningmoduleenrolments.enddate")),
            student_name=" ".join(clean_text(values.get("contacts.fullname")).split()),
            class_name=clean_text(values.get("classes.classdescriptor")),
        )


def _add(found: dict[tuple[int, int], list[ModuleEnrolment]], modules: Sequence[ModuleEnrolment]) -> None:
    for module in modules:
        found.setdefault((module.contact_id, module.class_id), []).append(module)


def _listed(ids: Sequence[int]) -> str:
    return ",".join(map(str, ids))


def _split(ids: Sequence[int], answer: ReportAnswer) -> list[Sequence[int]]:
    """Smaller parts of an incomplete chunk: halves, or as many parts as the answer's rows say it needs.

    An answer of n rows out of COUNT suggests parts of about n rows each; a margin keeps most parts under it.
    """
    parts = 2
    if answer.count and answer.rows:
        parts = max(2, math.ceil(answer.count * 1.25 / answer.rows))
    parts = min(parts, len(ids))
    size = math.ceil(len(ids) / parts)
    return [ids[start : start + size] for start in range(0, len(ids), size)]


async def _status_ids(api: Api, statuses: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """Module status names (any case) turned into the report's status ids, through /report/field."""
    body = _upper_keys(await api.get(FIELD_PATH, {"fieldReference": STATUS_FIELD}))
    options = {
        str(_upper_keys(option).get("DISPLAY", "")).strip().casefold(): str(_upper_keys(option).get("VALUE", ""))
        for option in body.get("VALUEOPTIONS") or []
    }
    unknown = [name for name in statuses if name.strip().casefold() not in options]
    if unknown:
        valid = ", ".join(str(_upper_keys(o).get("DISPLAY")) for o in body.get("VALUEOPTIONS") or [])
        raise InputError(f"--module-status {', '.join(unknown)} is not a module status; use any of: {valid}")
    return tuple(options[name.strip().casefold()] for name in statuses), " or ".join(statuses)


def _access(value: object) -> str:
    text = clean_text(value).lower()
    if text in ("true", "1", "yes", "unlocked"):
        return "true"
    if text in ("false", "0", "no", "locked"):
        return "false"
    return ""


def _report_date(value: object) -> dt.date | None:
    text = clean_text(value)
    if not text:
        return None
    try:
        return parse_date(text[:10] if len(text) > 10 and text[4:5] == "-" else text)
    except CellError:
        return None


def _upper_keys(body: object) -> dict[str, Any]:
    return {str(key).upper(): value for key, value in body.items()} if isinstance(body, dict) else {}
