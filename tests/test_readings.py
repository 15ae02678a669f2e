"""Right under every reading of what the aXcelerate reference leaves open (issue 10).

The sandbox plays each reading; these tests drive the real CLI (in-process) or the kinds against it and
assert what a user notices: statuses, reasons, what the sandbox holds, how many requests were sent.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from batchupdate.cli.sandbox import READING_NAMES
from batchupdate.client import Api, UnprovenWriteError
from batchupdate.kinds.learning_plan import Modules
from batchupdate.kinds.units import Units
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox, SandboxSettings
from batchupdate.sandbox.settings import READINGS, READINGS_VARIABLE, from_environment
from tests.conftest import SAMPLES, read_results, write_csv
from tests.fakes import json_response, make_api
from tests.test_e2e_modules import HEADER as MODULE_HEADER
from tests.test_e2e_modules import open_modules
from tests.test_e2e_units import HEADER as UNIT_HEADER
from tests.test_e2e_units import units_of

UNIT_PUT, UNIT_GET = ("PUT", "/course/enrolment"), ("GET", "/course/enrolments")
MODULE_PUT, REPORT = ("PUT", "/v2/learningPlan/modules/enrolments"), ("POST", "/report/run")
TOKENS = {"apitoken": SANDBOX_API_TOKEN, "wstoken": SANDBOX_WS_TOKEN}


def api_for(sandbox: RunningSandbox) -> Api:
    return Api(httpx.AsyncClient(base_url=sandbox.url + "/", headers=TOKENS))


def one_unit_per_student(sandbox: RunningSandbox, class_id: int, count: int) -> list:
    seen: set[int] = set()
    chosen = []
    for unit in units_of(sandbox.store, class_id):
        if unit.contact_id not in seen and unit.outcome_code != "30":
            seen.add(unit.contact_id)
            chosen.append(unit)
    return chosen[:count]


# --- the sandbox plays each reading ------------------------------------------------------------------------


def test_every_reading_is_a_flag_of_batchupdate_sandbox() -> None:
    assert set(READING_NAMES) == set(READINGS)
    for name in READINGS:
        SandboxSettings().under([name])  # each preset is valid settings


@pytest.mark.parametrize(("reading", "has_key", "empty"), [("fastest", True, False), ("listing-empty", True, True),
                                                           ("listing-absent", False, True)])  # fmt: skip
def test_class_listings_carry_activities_as_the_reading_says(start, reading: str, has_key: bool, empty: bool) -> None:
    sandbox = start(**READINGS[reading])
    listing = httpx.get(f"{sandbox.url}/course/enrolments", params={"instanceID": 31002}, headers=TOKENS).json()
    assert all(("ACTIVITIES" in enrolment) == has_key for enrolment in listing)
    assert all(not enrolment.get("ACTIVITIES") for enrolment in listing) == empty
    contact = listing[0]["CONTACTID"]
    alone = httpx.get(
        f"{sandbox.url}/course/enrolments", params={"instanceID": 31002, "contactID": contact}, headers=TOKENS
    ).json()
    assert alone[0]["ACTIVITIES"], "the documented per-student answer always carries the units"


def test_an_unknown_reading_is_refused_with_the_names() -> None:
    with pytest.raises(ValueError, match="listing-absent"):
        from_environment({READINGS_VARIABLE: "listing-missing"})


def test_sandbox_runs_are_played_under_the_reading_the_environment_names(run_cli, tmp_path: Path) -> None:
    sheet = Path(shutil.copy(SAMPLES / "unit-outcomes.csv", tmp_path / "sample.csv"))

    fast = run_cli("plan", str(sheet), "--sandbox")
    slow = run_cli("plan", str(sheet), "--sandbox", env={READINGS_VARIABLE: "listing-absent"})

    assert fast.returncode == slow.returncode == 0, fast.stdout + fast.stderr + slow.stderr
    statuses = [row["status"] for row in read_results(tmp_path / "sample.results.csv")]
    assert statuses.count("would-update") == 23 and statuses.count("unchanged") == 5
    gets = [line for line in (fast.stdout, slow.stdout) if "GET /course/enrolments" in line]
    fast_gets, slow_gets = (int(text.split(" GET /course/enrolments")[0].split()[-1]) for text in gets)
    assert slow_gets > fast_gets, "without activities in listings, students are read one by one"


# --- item 1: listings are checked, verdicts rest on the per-student answer ----------------------------------


@pytest.mark.parametrize("reading", ["listing-empty", "listing-absent"])
def test_listings_without_units_switch_the_rest_of_the_run_to_per_student_reads(
    start, run_cli, tmp_path: Path, reading: str
) -> None:
    sandbox = start(**READINGS[reading])
    first_class = one_unit_per_student(sandbox, 31002, 4)
    second_class = one_unit_per_student(sandbox, 31003, 4)
    rows = [[u.contact_id, u.class_id, u.unit_code, "", "CNA", "", "", ""] for u in first_class + second_class]
    sheet = write_csv(tmp_path / "two.csv", UNIT_HEADER, rows)

    result = run_cli("run", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["status"] for r in read_results(tmp_path / "two.results.csv")] == ["updated"] * 8
    for unit in first_class + second_class:
        assert sandbox.store.unit_enrolment(unit.contact_id, unit.class_id, unit.unit_id)["outcome_code"] == "30"
    listings = [p for m, path, p in sandbox.stats.log if (m, path) == UNIT_GET and "contactid" not in p]
    assert len(listings) == 1, "once one listing showed no units, the second class is not listed"
    assert sandbox.stats.count(*UNIT_GET) == 1 + 8


def test_units_holdings_are_every_unit_the_classes_hold_under_every_listing_reading(start) -> None:
    for reading in ("fastest", "listing-empty", "listing-absent"):
        sandbox = start(**READINGS[reading])
        held = asyncio.run(Units().holdings(api_for(sandbox), [31002, 31003]))
        stored = units_of(sandbox.store, 31002) + units_of(sandbox.store, 31003)
        assert sorted((u.contact_id, u.unit_id) for u in held) == sorted((u.contact_id, u.unit_id) for u in stored)
        assert all(u.student_name and u.unit_name and u.class_name for u in held)
        sandbox.stop()


# --- item 2: a report answer counts only when complete -------------------------------------------------------


@pytest.mark.parametrize("reading", ["fastest", "report-capped", "report-paged"])
def test_a_capped_report_is_read_completely_in_smaller_runs(start, run_cli, tmp_path: Path, reading: str) -> None:
    sandbox = start(**READINGS[reading])
    modules = open_modules(sandbox)
    rows = [[m.contact_id, m.class_id, m.module_name, "", "", "2026-12-18", "bulk"] for m in modules]
    sheet = write_csv(tmp_path / "bulk.csv", MODULE_HEADER, rows)

    result = run_cli("plan", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert {r["status"] for r in read_results(tmp_path / "bulk.results.csv")} <= {"would-update", "unchanged"}
    total = sum(1 for m in sandbox.store.module_enrolments() if m.status_id in (1, 2))
    fewest = 1 if reading == "fastest" else -(-total // 40)
    # Finding out costs a run and a paging probe (2); parts sized from the cap may still overflow it (1 more).
    assert sandbox.stats.count(*REPORT) <= fewest + 3, (sandbox.stats.count(*REPORT), fewest)


def test_a_student_whose_report_stays_incomplete_fails_with_that_reason_and_nothing_is_sent(
    start, run_cli, tmp_path: Path
) -> None:
    sandbox = start(report_row_cap=2, report_paging=False)
    held = [m for m in sandbox.store.module_enrolments() if m.status_id in (1, 2)]
    many = next(m for m in held if sum(1 for other in held if other.contact_id == m.contact_id) > 2)
    sheet = write_csv(
        tmp_path / "m.csv", MODULE_HEADER, [[many.contact_id, many.class_id, many.module_name, "locked", "", "", ""]]
    )
    before = sandbox.store.snapshot()

    result = run_cli("run", str(sheet), url=sandbox.url)

    assert result.returncode == 1
    [line] = read_results(tmp_path / "m.results.csv")
    assert line["status"] == "failed"
    assert "gave 2 of the" in line["error"] and "no row is matched against a partial answer" in line["error"]
    assert sandbox.stats.count(*MODULE_PUT) == 0 and sandbox.store.snapshot() == before


@pytest.mark.parametrize("reading", ["fastest", "report-paged", "no-access-field"])
def test_modules_holdings_are_every_open_module_of_the_classes(start, reading: str) -> None:
    sandbox = start(**READINGS[reading])
    held = asyncio.run(Modules().holdings(api_for(sandbox), [32001, 32002]))
    stored = [m for m in sandbox.store.module_enrolments() if m.status_id in (1, 2) and m.class_id in (32001, 32002)]
    assert sorted(m.module_enrolment_id for m in held) == sorted(m.module_enrolment_id for m in stored)
    assert all(m.student_name and m.class_name for m in held)


def test_modules_holdings_never_return_a_partial_class() -> None:
    """A capped report that ignores paging, for a class whose students cannot be listed: an error, not a guess."""
    from batchupdate.errors import RejectedError
    from batchupdate.sandbox import start_sandbox

    with (
        start_sandbox(
            SandboxSettings(db_path=Path(tempfile.mkdtemp()) / "s.sqlite3").under(["report-capped"])
        ) as sandbox,
        pytest.raises(
            RejectedError, match="could not read class 32001's modules completely: the module report gave 40 of"
        ),
    ):
        asyncio.run(Modules().holdings(api_for(sandbox), [32001]))


# --- item 3: a write's answer proves only what it says -------------------------------------------------------


@pytest.mark.parametrize("reply", ["html", "empty", "no-content", "text", "other-json"])
def test_a_proxy_that_answers_but_never_writes_fails_every_row_with_the_reason(
    start, run_cli, tmp_path: Path, reply: str
) -> None:
    sandbox = start(write_reply=reply, writes_swallowed=True)
    chosen = one_unit_per_student(sandbox, 31002, 4)
    sheet = write_csv(
        tmp_path / "p.csv", UNIT_HEADER, [[u.contact_id, 31002, u.unit_code, "", "CNA", "", "", ""] for u in chosen]
    )
    before = sandbox.store.snapshot()

    result = run_cli("run", str(sheet), url=sandbox.url)

    assert result.returncode == 1
    lines = read_results(tmp_path / "p.results.csv")
    assert [line["status"] for line in lines] == ["failed"] * 4
    assert all("re-reading shows aXcelerate does not hold the change" in line["error"] for line in lines)
    assert sandbox.store.snapshot() == before


def test_while_learning_writes_go_one_at_a_time_then_a_shape_confirmed_three_times_is_trusted(
    start, run_cli, tmp_path: Path
) -> None:
    sandbox = start(write_reply="html")
    chosen = one_unit_per_student(sandbox, 31002, 8)
    sheet = write_csv(
        tmp_path / "h.csv", UNIT_HEADER, [[u.contact_id, 31002, u.unit_code, "", "CNA", "", "", ""] for u in chosen]
    )

    result = run_cli("run", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert [line["status"] for line in read_results(tmp_path / "h.results.csv")] == ["updated"] * 8
    for unit in chosen:
        assert sandbox.store.unit_enrolment(unit.contact_id, 31002, unit.unit_id)["outcome_code"] == "30"
    order = [method for method, path, _ in sandbox.stats.log if path.startswith("/course/")]
    # The listing, then write / re-read, three times over, one at a time; then the trusted shape: writes only.
    assert order[:7] == ["GET", "PUT", "GET", "PUT", "GET", "PUT", "GET"]
    assert order[7:] == ["PUT"] * 5


@pytest.mark.parametrize(
    "answer",
    [
        json_response({"STATUS": "success", "MSG": "ok"}),
        json_response({"status": "Success", "msg": "ok"}),
    ],
)
def test_the_documented_success_in_any_key_case_proves_a_unit_write(answer: httpx.Response) -> None:
    from tests.test_units import held, unit_row

    api = make_api(lambda request: answer)
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", outcome="C")
    asyncio.run(Units().write(api, row, held(outcome="30")))
    assert not api.write_proof.learning


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (httpx.Response(200, html="<html>Service maintenance</html>"), "an HTML page"),
        (httpx.Response(200), "no body"),
        (httpx.Response(204), "HTTP 204"),
        (httpx.Response(200, text="OK"), "text"),
        (json_response({"RESULT": "saved"}), "JSON of keys RESULT"),
    ],
)
def test_any_other_2xx_proves_nothing_by_itself(answer: httpx.Response, said: str) -> None:
    from tests.test_units import held, unit_row

    api = make_api(lambda request: answer)
    row = unit_row(contact_id="700001", class_id="31001", unit_code="BSBWHS411", outcome="C")
    with pytest.raises(UnprovenWriteError, match=said):
        asyncio.run(Units().write(api, row, held(outcome="30")))
    assert api.write_proof.learning


def test_a_trusted_shape_is_exactly_that_shape() -> None:
    from batchupdate.client import WriteProof, WriteReply

    proof = WriteProof()
    page = WriteReply(200, "text/html", None, "<html>Saved</html>")
    for _ in range(WriteProof.TRUST_AFTER):
        assert proof.learning and not proof.trusted(page)
        proof.confirmed(page)
    assert proof.trusted(page) and not proof.learning
    assert not proof.trusted(WriteReply(200, "text/html", None, "<html>Down for maintenance</html>"))
    assert not proof.trusted(WriteReply(204, "", None, ""))


@pytest.mark.parametrize("reading", ["fastest", "listing-absent"])
def test_plan_names_each_student_from_the_lookups(start, run_cli, tmp_path: Path, reading: str) -> None:
    sandbox = start(**READINGS[reading])
    chosen = one_unit_per_student(sandbox, 31002, 3)
    sheet = write_csv(
        tmp_path / "n.csv", UNIT_HEADER, [[u.contact_id, 31002, u.unit_code, "", "CNA", "", "", ""] for u in chosen]
    )

    result = run_cli("plan", str(sheet), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    enrolments = sandbox.store.program_enrolments(contact_id=None, class_id=31002, program_id=None, offset=0, limit=999)
    names = {e.contact_id: f"{e.given_name} {e.surname}" for e in enrolments}
    for unit in chosen:
        assert names[unit.contact_id] in result.stdout


@pytest.mark.parametrize("reading", ["fastest", "errors-upper"])
def test_error_bodies_are_read_in_either_key_case(start, reading: str) -> None:
    from batchupdate.errors import RejectedError

    sandbox = start(**READINGS[reading])
    unit = units_of(sandbox.store, 31002)[0]
    raw = httpx.put(f"{sandbox.url}/course/enrolment", headers=TOKENS, data={"contactID": unit.contact_id})
    assert ("DETAILS" in raw.json()) == (reading == "errors-upper")
    form = {"contactID": unit.contact_id, "instanceID": unit.unit_id, "programInstanceID": 31002, "type": "s",
            "competent": 99}  # fmt: skip

    with pytest.raises(RejectedError) as caught:
        asyncio.run(api_for(sandbox).put("/course/enrolment", form))

    assert caught.value.status == 412
    assert "competent 99 is not a valid competency code" in caught.value.details
    assert "Validation Error" in str(caught.value)
