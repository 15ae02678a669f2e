"""`batchupdate doctor`: a read-only check of a connection, and which reading of the undocumented API it follows.

It checks the settings, that the tokens are accepted (one cheap read), the round trip, and for each question
the reference leaves open (axcelerate-api.md, "What the reference does not say") which answer this tenant
gives, on the classes named with --class. It sends no write, ever: only GETs and report runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchupdate.cells import as_int
from batchupdate.client import Api, describe_error
from batchupdate.config import Connection
from batchupdate.errors import ApiError, RejectedError, RetriableApiError, RunAbortedError
from batchupdate.exits import Exit
from batchupdate.kinds.learning_plan import Modules
from batchupdate.kinds.units import ENROLMENTS_PATH, PAGE_SIZE, units_by_student

OK, WARN, FAIL = "ok", "warn", "fail"
ROUND_TRIPS = 3  # cheap reads timed for the round trip
SDK_RATE = 2.5  # requests per second: one public SDK's default pace (150 a minute)


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, the verdict, what was found, and the fix when not ok."""

    name: str
    verdict: str
    found: str
    fix: str = ""

    def __str__(self) -> str:
        line = f"{self.verdict:<5} {self.name}: {self.found}"
        return f"{line}; {self.fix}" if self.fix else line


@dataclass
class Checkup:
    """Every check made, in order, and the readings found (by question) for whoever keeps them."""

    checks: list[Check] = field(default_factory=list)
    readings: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        verdicts = {check.verdict for check in self.checks}
        if FAIL in verdicts:
            return Exit.STOPPED
        return Exit.PROBLEMS if WARN in verdicts else Exit.OK


def settings_check(connection: Connection) -> Check:
    """The settings were read (a missing or unsafe one stops before this, as a usage error)."""
    where = "the sandbox on loopback" if connection.sandbox else connection.target
    return Check("settings", OK, f"AXCELERATE_URL and both tokens set; {where}")


async def examine(
    api: Api,
    connection: Connection,
    class_ids: Sequence[int],
    report: Callable[[Check], None] = lambda check: None,
    clock: Callable[[], float] = time.monotonic,
) -> Checkup:
    """Run every check in turn (``report`` sees each as it is made); stop after tokens refused or no connection."""
    checkup = Checkup()

    def add(check: Check) -> None:
        checkup.checks.append(check)
        report(check)

    add(settings_check(connection))
    times = []
    for _ in range(ROUND_TRIPS):
        started = clock()
        try:
            await api.get(ENROLMENTS_PATH, {})  # no ids: the cheapest read there is (an empty 204)
        except RunAbortedError as exc:
            add(Check("tokens" if exc.status in (401, 403) else "connection", FAIL, str(exc)))
            return checkup
        except ApiError as exc:
            add(Check("connection", FAIL, describe_error(exc), "check AXCELERATE_URL: it should end in /api"))
            return checkup
        times.append(clock() - started)
    add(Check("tokens", OK, "accepted (GET /course/enrolments answered)"))
    round_trip = statistics.median(times)
    slow = "" if round_trip < 1.0 else "a slow link: keep --concurrency high so runs still keep up the pace"
    add(Check("round trip", WARN if slow else OK, f"{round_trip * 1000:.0f} ms (median of {ROUND_TRIPS})", slow))
    for check in await _listing_reading(api, class_ids, checkup.readings):
        add(check)
    modules = Modules()
    try:
        await modules.prepare(api, None)
    except (RejectedError, RetriableApiError) as exc:
        add(Check("module report", WARN, f"/report/fields failed: {describe_error(exc)}", "ask aXcelerate support"))
    else:
        add(_access_reading(modules, checkup.readings))
        add(await _report_reading(api, modules, class_ids, checkup.readings))
    add(Check("write answers", OK, "not tested: doctor never writes; every run checks each write's answer and "
              "re-reads any that does not prove itself"))  # fmt: skip
    add(_rate(round_trip, api.concurrency))
    return checkup


async def _listing_reading(api: Api, class_ids: Sequence[int], readings: dict[str, str]) -> list[Check]:
    """Does a class listing carry each enrolment's ACTIVITIES? Compared with the documented per-student answer."""
    name = "class listings"
    if not class_ids:
        return [Check(name, WARN, "not tested: no class named", "add --class ID of a class with students in units")]
    for class_id in class_ids:
        try:
            body = await api.get(
                ENROLMENTS_PATH, {"instanceID": class_id, "type": "p", "offset": 0, "limit": PAGE_SIZE}
            )
        except (RejectedError, RetriableApiError) as exc:
            return [Check(name, WARN, f"class {class_id} could not be listed: {describe_error(exc)}", "check --class")]
        enrolments = [e for e in body or [] if isinstance(e, Mapping) and as_int(e.get("CONTACTID")) is not None]
        if not enrolments:
            continue
        if any("ACTIVITIES" not in enrolment for enrolment in enrolments):
            shown = "absent"
        elif all(not enrolment.get("ACTIVITIES") for enrolment in enrolments):
            shown = "empty"
        else:
            shown = "full"
        sample = next((e for e in enrolments if e.get("ACTIVITIES")), enrolments[0])
        contact = as_int(sample.get("CONTACTID"))
        alone = await api.get(ENROLMENTS_PATH, {"contactID": contact, "instanceID": class_id, "type": "p"})
        documented = units_by_student(alone, class_id).get((contact or 0, class_id), [])
        listed = units_by_student([sample], class_id).get((contact or 0, class_id), [])
        if not documented and shown != "full":
            continue  # no units to compare against: try the next class
        if shown == "full" and sorted(u.unit_id for u in listed) != sorted(u.unit_id for u in documented):
            shown = "partial"
        readings["class_listing_activities"] = shown
        said = {
            "full": "carry unit activities (one GET per class page)",
            "empty": "carry ACTIVITIES: [] where students have units: runs read students one by one",
            "absent": "carry no ACTIVITIES key: runs read students one by one",
            "partial": "carry other units than the per-student answer: runs trust listings only for units they show",
        }[shown]
        return [Check(name, OK, f"{said} (class {class_id}, contact {contact})")]
    return [Check(name, WARN, "not tested: no named class has students with units", "add --class ID of such a class")]


def _access_reading(modules: Modules, readings: dict[str, str]) -> Check:
    readings["report_access_field"] = modules.access_field or ""
    if modules.access_field:
        return Check("module access field", OK, f"the module report shows the access override ({modules.access_field})")
    return Check("module access field", OK, "the module report has no access-override field: rows that set access "
                 "are always sent, and their before-value is 'unknown'")  # fmt: skip


async def _report_reading(api: Api, modules: Modules, class_ids: Sequence[int], readings: dict[str, str]) -> Check:
    """Does /report/run give every row at once, a capped first part it pages on, or a capped part alone?"""
    name = "report paging"
    if not class_ids:
        return Check(name, WARN, "not tested: no class named", "add --class ID of a learning-plan class")
    for class_id in class_ids:
        try:
            answer = await modules._report(api, None, [class_id])
        except (RejectedError, RetriableApiError) as exc:
            return Check(name, WARN, f"the module report failed for class {class_id}: {describe_error(exc)}")
        if not answer.count:
            continue
        if answer.complete and answer.rows >= (answer.count or 0):
            readings["report_paging"] = "all-at-once"
            return Check(
                name,
                OK,
                f"all {answer.count} rows of class {class_id} in one answer (a cap above that is not ruled out)",
            )
        if answer.complete:
            readings["report_paging"] = f"capped-{answer.rows}-paged"
            return Check(name, OK, f"at most {answer.rows} rows an answer, and offsetRows pages on (class {class_id})")
        readings["report_paging"] = f"capped-{answer.rows}-ignored"
        return Check(name, OK, f"at most {answer.rows} of {answer.count} rows an answer and paging is ignored (class "
                     f"{class_id}): runs ask for fewer students at a time until each answer is complete")  # fmt: skip
    return Check(name, WARN, "not tested: no named class has open module enrolments", "add --class ID of one")


def _rate(round_trip: float, concurrency: int) -> Check:
    ceiling = concurrency / max(round_trip, 0.001)
    return Check(
        "rate",
        OK,
        f"at {concurrency} requests in flight this link carries about {ceiling:.0f} requests/s; aXcelerate publishes "
        f"no limit: --rate auto (the default) slows down at the first 429, or --rate {SDK_RATE:g} "
        "(150 a minute, a public SDK's pace) to stay well clear",
    )


def describe_readings(readings: Mapping[str, Any]) -> str:
    """The readings found, one phrase each, for a summary line."""
    return ", ".join(f"{question}={answer or 'none'}" for question, answer in readings.items()) or "none tested"
