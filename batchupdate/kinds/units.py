"""Unit outcomes: a row names a student's unit in a class and sets its outcome and dates.

Finding the record: `GET /course/enrolments` with contactID + instanceID + type p answers one student's
enrolment in a class, its unit enrolments as `ACTIVITIES` of TYPE "s" (the guide's documented path). The
unit's `ID` is what `PUT /course/enrolment` needs. Listing a whole class (instanceID alone) is the fast
path, but whether a listing carries ACTIVITIES is undocumented: a listing is trusted only for the units it
shows, and every "not enrolled" or "unit not found" rests on the per-student answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchupdate.cells import CellError, as_int, clean_text, parse_date, parse_date_time, parse_id
from batchupdate.client import Api, UnprovenWriteError, describe_error
from batchupdate.errors import ApiError, InputError, RejectedError, RetriableApiError
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
from batchupdate.kinds.outcomes import parse_outcome, short_code
from batchupdate.learnt import learnt_readings

ENROLMENTS_PATH = "/course/enrolments"
UPDATE_PATH = "/course/enrolment"
PAGE_SIZE = 100
# With this many students of one class in the sheet, listing the whole class takes fewer GETs than
# asking per student (a page holds 100 enrolments; most classes fit in one or two pages).
CLASS_LISTING_THRESHOLD = 3


def parse_unit_code(cell: object) -> str | None:
    """A unit code such as BSBWHS411, compared without regard to case."""
    text = clean_text(cell)
    if not text:
        return None
    if len(text) > 40 or not text.isprintable() or any(character.isspace() for character in text):
        raise CellError("is not a unit code; use the code as aXcelerate shows it, e.g. BSBWHS411")
    return text.upper()


@dataclass(frozen=True)
class UnitEnrolment:
    """A student's unit enrolment as aXcelerate holds it."""

    contact_id: int
    class_id: int
    unit_id: int
    unit_code: str
    unit_enrolment_id: int | None
    outcome: str | None  # OUTCOMECODE: the number as text, None when no outcome is set
    start_date: dt.date | None
    end_date: dt.date | None
    # Names for people (exports, plans); not part of what the record holds, so not compared.
    student_name: str = field(default="", compare=False)
    unit_name: str = field(default="", compare=False)
    class_name: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[object, ...]:
        return (self.contact_id, self.class_id, self.unit_id)


@dataclass
class ClassListing:
    """What a class listing showed: each student's units, and the students it showed without any."""

    units: dict[tuple[int, int], list[UnitEnrolment]] = field(default_factory=dict)
    bare: set[int] = field(default_factory=set)  # contacts listed with ACTIVITIES absent or []
    lacks_activities: bool = False  # some enrolment had no ACTIVITIES key at all


UNIT_NAMED_BY = ("unit_code", "unit_id")
UNIT_CHANGES = ("outcome", "start_date", "end_date")


@dataclass
class Units:
    """The units sheet kind."""

    name: str = "units"
    distinctive: frozenset[str] = frozenset({"unit_code", "unit_id", "outcome"})
    columns: tuple[Column, ...] = (
        *student_and_class("31001"),
        # aXcelerate's own words: "Subject Code" (the PUT's subjectCode), a unit of competency (UoC).
        Column(
            "unit_code", parse_unit_code, "BSBWHS411", aliases=("Subject Code", "UoC Code", "Unit of Competency Code")
        ),
        Column("unit_id", parse_id, "41001"),
        # The PUT's field is `competent`, the listing's OUTCOMECODE, AVETMISS's "Outcome identifier - national".
        Column(
            "outcome",
            parse_outcome,
            "C",
            aliases=(
                "Outcome Code",
                "Outcome ID",
                "Result",
                "Result Code",
                "Competent",
                "Competency",
                "Competency Outcome",
                "Unit Outcome",
                "Final Outcome",
                "National Outcome",
                "Outcome Identifier National",
                "Outcome Identifier - National",
            ),
        ),
        Column("start_date", parse_date, "03/02/2026", aliases=(*START_DATE_ALIASES, "Unit Start Date")),
        Column("end_date", parse_date, "28/11/2026", aliases=(*END_DATE_ALIASES, "Unit End Date", "Unit Finish Date")),
    )
    template_columns: tuple[str, ...] = ("contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date")
    required: tuple[tuple[str, ...], ...] = required_columns(UNIT_NAMED_BY, UNIT_CHANGES)
    changes: tuple[str, ...] = UNIT_CHANGES
    rules: tuple[RowRule, ...] = (
        named("unit", UNIT_NAMED_BY, "fill in the unit code (e.g. BSBWHS411)"),
        # A row that leaves every value blank asks for nothing: it is looked up and comes out unchanged (an
        # export's rows that nobody filled in), never invalid.
        DATES_IN_ORDER,
    )
    # The student's name is added before these by the pipeline where the sheet lacks it (pipeline.result_columns).
    result_columns: tuple[str, ...] = (
        "resolved_unit_id",
        "unit_enrolment_id",
        "before_outcome",
        "before_start_date",
        "before_end_date",
    )
    undo_columns: tuple[tuple[str, str], ...] = (
        ("contact_id", "contact_id"),
        ("class_id", "class_id"),
        ("unit_id", "resolved_unit_id"),
    )
    # Learnt this run: False once a listing showed it does not carry unit activities (then per-student GETs).
    listings_carry_units: bool | None = None

    def identity(self, row: Row) -> tuple[object, ...]:
        values = row.values  # called for every row of a sheet: plain dict access
        return (values["contact_id"], values["class_id"], values.get("unit_code") or values.get("unit_id"))

    def describe(self, row: Row) -> str:
        unit = row["unit_code"] or f"unit ID {row['unit_id']}"
        return f"contact {row['contact_id']}, class {row['class_id']}, unit {unit}"

    async def prepare(self, api: Api, statuses: Sequence[str] | None) -> None:
        if statuses:
            raise InputError("--module-status is for modules sheets; this is a units sheet")
        # doctor found listings carry no units here: read students one by one from the start (documented path).
        if learnt_readings(str(api.http.base_url)).get("class_listing_activities") in ("empty", "absent"):
            self.listings_carry_units = False

    async def resolve(self, api: Api, rows: Sequence[Row]) -> dict[int, UnitEnrolment | Unresolved]:
        by_class: dict[int, list[Row]] = defaultdict(list)
        for row in rows:
            by_class[row["class_id"]].append(row)
        listed = [c for c, class_rows in by_class.items() if len(_contacts(class_rows)) >= CLASS_LISTING_THRESHOLD]
        # The first listed class alone, settled to the end: what it shows decides how the rest are read.
        first = {class_id: by_class[class_id] for class_id in listed[:1]}
        rest = {class_id: class_rows for class_id, class_rows in by_class.items() if class_id not in first}
        resolved: dict[int, UnitEnrolment | Unresolved] = {}
        for classes in (first, rest):
            resolved.update(await self._resolve_classes(api, classes))
        return {row.index: resolved[row.index] for row in rows}

    async def _resolve_classes(
        self, api: Api, by_class: Mapping[int, Sequence[Row]]
    ) -> dict[int, UnitEnrolment | Unresolved]:
        to_list = {
            class_id: _contacts(class_rows)
            for class_id, class_rows in by_class.items()
            if len(_contacts(class_rows)) >= CLASS_LISTING_THRESHOLD
        }
        errors: dict[tuple[int, int], str] = {}
        listed = await self._list_classes(api, to_list, errors)
        # A listing is trusted only for the unit it shows; anything else is asked per student (documented).
        resolved: dict[int, UnitEnrolment | Unresolved] = {}
        ask: set[tuple[int, int]] = set()
        rows = [row for class_rows in by_class.values() for row in class_rows]
        for row in rows:
            pair = (row["contact_id"], row["class_id"])
            if pair in errors:
                continue
            match = match_unit(row, listed[pair]) if listed.get(pair) else None
            if isinstance(match, UnitEnrolment):
                resolved[row.index] = match
            else:
                ask.add(pair)
        answered = await self._read_students(api, ask, errors)
        for pair, units in answered.items():
            if units and pair in listed and not listed[pair]:
                self.listings_carry_units = False  # the listing showed none where the student has units
        return {
            row.index: resolved[row.index] if row.index in resolved else self._match(row, answered, errors)
            for row in rows
        }

    async def holdings(self, api: Api, class_ids: Sequence[int]) -> list[UnitEnrolment]:
        """Every unit enrolment the classes hold now: their listings, with students they show bare read one by one."""
        errors: dict[tuple[int, int], str] = {}
        listings = await self._list_classes(api, {class_id: None for class_id in class_ids}, errors)
        if errors:
            raise RejectedError(f"could not list the classes: {next(iter(errors.values()))}")
        bare = {pair for pair, units in listings.items() if not units}
        answered = await self._read_students(api, bare, errors)
        if errors:
            raise RejectedError(f"could not read a student's enrolment: {next(iter(errors.values()))}")
        held = {**listings, **{pair: units or [] for pair, units in answered.items()}}
        return [unit for pair in sorted(held) for unit in held[pair]]

    async def _list_classes(
        self, api: Api, classes: Mapping[int, set[int] | None], errors: dict[tuple[int, int], str]
    ) -> dict[tuple[int, int], list[UnitEnrolment]]:
        """List each class (the first alone, so what it shows can steer the rest); every student seen, by pair.

        A student listed without units maps to []: the caller asks them one by one. Once the run has seen
        listings without unit activities, classes are no longer listed but for their students (holdings).
        """
        found: dict[tuple[int, int], list[UnitEnrolment]] = {}

        async def one(class_id: int, contacts: set[int] | None) -> None:
            if self.listings_carry_units is False and contacts is not None:
                return  # the listing would show no units: the caller asks per student
            try:
                listing = await _list_class(api, class_id, contacts)
            except (RejectedError, RetriableApiError, ValueError) as exc:
                errors.update({(contact, class_id): _lookup_failed(exc) for contact in contacts or ()})
                if contacts is None:
                    errors[(0, class_id)] = _lookup_failed(exc)
                return
            if listing.lacks_activities:
                self.listings_carry_units = False
            elif listing.units and any(listing.units.values()) and self.listings_carry_units is None:
                self.listings_carry_units = True
            found.update(listing.units)
            found.update({(contact, class_id): [] for contact in listing.bare if (contact, class_id) not in found})

        items = list(classes.items())
        if items:
            await one(*items[0])
            await asyncio.gather(*(one(class_id, contacts) for class_id, contacts in items[1:]))
        return found

    async def _read_students(
        self, api: Api, pairs: set[tuple[int, int]], errors: dict[tuple[int, int], str]
    ) -> dict[tuple[int, int], list[UnitEnrolment] | None]:
        """The documented per-student answer for each (contact, class): its units, or None when not enrolled."""
        answered: dict[tuple[int, int], list[UnitEnrolment] | None] = {}

        async def one(contact_id: int, class_id: int) -> None:
            try:
                answered[(contact_id, class_id)] = await read_student(api, contact_id, class_id)
            except (RejectedError, RetriableApiError, ValueError) as exc:
                errors[(contact_id, class_id)] = _lookup_failed(exc)

        await asyncio.gather(*(one(contact_id, class_id) for contact_id, class_id in sorted(pairs)))
        return answered

    def _match(
        self,
        row: Row,
        found: Mapping[tuple[int, int], list[UnitEnrolment] | None],
        errors: Mapping[tuple[int, int], str],
    ) -> UnitEnrolment | Unresolved:
        contact_id, class_id = row["contact_id"], row["class_id"]
        if (contact_id, class_id) in errors:
            return Unresolved(errors[(contact_id, class_id)])
        units = found.get((contact_id, class_id))
        if units is None:
            return Unresolved(
                f"contact {contact_id} is not enrolled in class {class_id}; check contact_id and class_id "
                "against the class's enrolments in aXcelerate"
            )
        return match_unit(row, units)

    def compare(self, row: Row, target: UnitEnrolment) -> list[Change]:
        changes = []
        wanted_outcome = row["outcome"]
        if wanted_outcome is not None and target.outcome != str(wanted_outcome):
            changes.append(Change("outcome", _outcome_text(target.outcome), _outcome_text(wanted_outcome)))
        return [*changes, *date_changes(row, target.start_date, target.end_date)]

    def conflict(self, row: Row, target: UnitEnrolment) -> str | None:
        return dates_conflict(row, target.start_date, target.end_date)

    async def write(self, api: Api, row: Row, target: UnitEnrolment) -> str:
        form: dict[str, object] = {
            "contactID": target.contact_id,
            "instanceID": target.unit_id,
            "programInstanceID": target.class_id,
            "type": "s",
        }
        changed = {change.column for change in self.compare(row, target)}
        if "outcome" in changed:
            form["competent"] = row["outcome"]
        form.update(date_fields(row, changed, "activityStartDate", "activityEndDate"))
        reply = await api.put_reply(UPDATE_PATH, form)
        status, message = _status_and_message(reply.body)
        if status == "success":  # the documented success, in any case of keys
            api.write_proof.answered()
            return message
        if status:
            raise RejectedError(f"aXcelerate answered {status!r}", details=message)
        if api.write_proof.trusted(reply):
            return reply.describe()
        raise UnprovenWriteError(reply)

    async def reread(self, api: Api, row: Row, target: UnitEnrolment) -> UnitEnrolment | None:
        units = await read_student(api, target.contact_id, target.class_id)
        return next((unit for unit in units or [] if unit.unit_id == target.unit_id), None)

    def restore(self, column: str, before: str) -> str | None:
        # A blank before-value cannot be written back: a blank cell means "leave as it is".
        return before or None

    def result_values(self, target: UnitEnrolment | None) -> dict[str, str]:
        if target is None:
            return {}
        return {
            "student_name": target.student_name,  # the plan table, and results where the sheet has no name
            "resolved_unit_id": str(target.unit_id),
            "unit_enrolment_id": str(target.unit_enrolment_id or ""),
            "before_outcome": target.outcome or "",
            "before_start_date": format_date(target.start_date),
            "before_end_date": format_date(target.end_date),
        }


def match_unit(row: Row, units: Sequence[UnitEnrolment]) -> UnitEnrolment | Unresolved:
    """The row's unit among a student's unit enrolments, or why none matches."""
    wanted_id, wanted_code = row["unit_id"], row["unit_code"]
    matches = [
        unit
        for unit in units
        if (wanted_id is None or unit.unit_id == wanted_id) and (wanted_code is None or unit.unit_code == wanted_code)
    ]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        return Unresolved(f"{len(matches)} unit enrolments match; give unit_id to pick one")
    codes = ", ".join(sorted({unit.unit_code for unit in units})) or "none"
    named = " / ".join(str(value) for value in (wanted_code, wanted_id) if value is not None)
    return Unresolved(
        f"unit {named} is not in contact {row['contact_id']}'s enrolment in class {row['class_id']}; "
        f"their units are {codes}"
    )


async def read_student(api: Api, contact_id: int, class_id: int) -> list[UnitEnrolment] | None:
    """One student's unit enrolments in one class (None when not enrolled there)."""
    body = await api.get(ENROLMENTS_PATH, {"contactID": contact_id, "instanceID": class_id, "type": "p"})
    units = units_by_student(body, class_id)
    return units.get((contact_id, class_id))


async def _list_class(api: Api, class_id: int, contacts: set[int] | None) -> ClassListing:
    """Page through a class's enrolments until every wanted student is seen or the pages run out.

    Stops early when the wanted students come without unit activities: the listing cannot answer for them.
    ``contacts`` None wants every student of the class.
    """
    listing = ClassListing()
    offset = 0
    while True:
        params = {"instanceID": class_id, "type": "p", "offset": offset, "limit": PAGE_SIZE}
        body = await api.get(ENROLMENTS_PATH, params)
        page = body if isinstance(body, list) else []
        if body is not None and not isinstance(body, list):
            raise ValueError(f"expected a list of enrolments, got {type(body).__name__}")
        wanted_here = []
        for enrolment in page:
            if not isinstance(enrolment, dict) or as_int(enrolment.get("INSTANCEID")) != class_id:
                continue
            contact_id = as_int(enrolment.get("CONTACTID"))
            if contact_id is None or (contacts is not None and contact_id not in contacts):
                continue
            wanted_here.append(contact_id)
            if "ACTIVITIES" not in enrolment:
                listing.lacks_activities = True
            units = _units_of(enrolment, contact_id, class_id)
            if units:
                listing.units[(contact_id, class_id)] = units
            else:
                listing.bare.add(contact_id)
        seen = {contact for contact, _ in listing.units} | listing.bare
        no_units_here = bool(wanted_here) and not any((contact, class_id) in listing.units for contact in wanted_here)
        if contacts is not None and (listing.lacks_activities or no_units_here):
            return listing  # this class's listing carries no units for the sheet's students: ask them one by one
        if len(page) < PAGE_SIZE or (contacts is not None and contacts <= seen):
            return listing
        offset += PAGE_SIZE


def _contacts(rows: Sequence[Row]) -> set[int]:
    return {row["contact_id"] for row in rows}


async def class_contacts(api: Api, class_id: int) -> list[int]:
    """Every student enrolled in the class, from its listing (contacts are listed whatever the activities)."""
    listing = await _list_class(api, class_id, None)
    return sorted({contact for contact, _ in listing.units} | listing.bare)


def units_by_student(body: object, class_id: int) -> dict[tuple[int, int], list[UnitEnrolment]]:
    """Parse a /course/enrolments answer into each student's unit enrolments in the class."""
    if body is None:
        return {}
    if not isinstance(body, list):
        raise ValueError(f"expected a list of enrolments, got {type(body).__name__}")
    units: dict[tuple[int, int], list[UnitEnrolment]] = {}
    for enrolment in body:
        if not isinstance(enrolment, dict) or as_int(enrolment.get("INSTANCEID")) != class_id:
            continue
        contact_id = as_int(enrolment.get("CONTACTID"))
        if contact_id is None:
            continue
        units.setdefault((contact_id, class_id), []).extend(_units_of(enrolment, contact_id, class_id))
    return units


def _units_of(enrolment: Mapping[str, Any], contact_id: int, class_id: int) -> list[UnitEnrolment]:
    """The unit enrolments (activities of TYPE s) of one program enrolment, named for people."""
    student = " ".join(clean_text(enrolment.get(key)) for key in ("GIVENNAME", "SURNAME")).strip()
    class_name = clean_text(enrolment.get("NAME"))
    return [
        _unit_enrolment(activity, contact_id, class_id, student, class_name)
        for activity in enrolment.get("ACTIVITIES") or []
        if isinstance(activity, dict) and str(activity.get("TYPE", "")).lower() == "s"
    ]


def _unit_enrolment(
    activity: Mapping[str, Any], contact_id: int, class_id: int, student_name: str = "", class_name: str = ""
) -> UnitEnrolment:
    outcome = activity.get("OUTCOMECODE")
    return UnitEnrolment(
        contact_id=contact_id,
        class_id=class_id,
        unit_id=int(activity["ID"]),
        unit_code=str(activity.get("CODE") or "").strip().upper(),
        unit_enrolment_id=as_int(activity.get("INSTANCEID")),
        outcome=None if outcome in (None, "") else str(outcome).strip(),
        start_date=parse_date_time(activity.get("STARTDATE")),
        end_date=parse_date_time(activity.get("FINISHDATE")),
        student_name=student_name,
        unit_name=clean_text(activity.get("NAME")),
        class_name=class_name,
    )


def _outcome_text(code: int | str | None) -> str:
    if code in (None, ""):
        return ""
    short = short_code(code)
    return f"{code} ({short})" if short else str(code)


def _status_and_message(body: object) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    lowered = {str(key).lower(): value for key, value in body.items()}
    return str(lowered.get("status") or "").lower(), str(lowered.get("msg") or lowered.get("message") or "")


def _lookup_failed(exc: Exception) -> str:
    reason = describe_error(exc) if isinstance(exc, ApiError) else str(exc)
    return f"could not look up the enrolment: {reason}"
