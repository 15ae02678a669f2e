"""The command line as a user meets it: exit codes, one-line errors, secrets kept out, re-runs and undo.

Most commands run in this process (click's CliRunner, a fresh folder each, the session's sandbox reset to its
seed); those that assert an exit status or what a real process printed run `python -m batchupdate` itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from batchupdate.pacing import RetryPolicy
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox
from tests.fakes import SAMPLES, free_port, read_results, write_csv

UNIT_HEADER = ["contact_id", "class_id", "unit_code", "outcome", "start_date", "end_date"]


def sample(tmp_path: Path, name: str = "unit-outcomes.csv") -> Path:
    return Path(shutil.copy(SAMPLES / name, tmp_path / name))


def assert_one_clear_line(output: str, *fragments: str) -> None:
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, output
    for fragment in fragments:
        assert fragment in error_lines[0], output


def test_check_is_offline_and_exit_0_on_a_clean_sheet(cli_process, tmp_path: Path) -> None:
    result = cli_process("check", str(sample(tmp_path)))  # no URL, no tokens: check never needs them

    assert result.returncode == 0, result.stdout + result.stderr
    assert "28 rows" in result.stdout


def test_check_names_row_column_and_fix(cli_process, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", UNIT_HEADER, [[700001, 31001, "BSBWHS411", "C", "", "31/02/2026"]])

    result = cli_process("check", str(sheet))

    assert result.returncode == 1
    assert "row 2: invalid: end_date '31/02/2026' is not a real date; use DD/MM/YYYY" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["check", "missing.csv"], ["missing.csv", "no such file"]),
        (["check", "nocolumn.csv"], ["missing the column class_id", "contact_id"]),
        (["run", "good.csv"], ["AXCELERATE_URL", "not set", "--sandbox"]),
        (["check", "good.csv", "--sheet", "Outcomes"], ["--sheet is only for .xlsx"]),
    ],
)
def test_input_errors_are_exit_2_with_one_clear_line(cli, tmp_path: Path, args: list[str], fragments: list[str]):
    write_csv(tmp_path / "nocolumn.csv", ["contact_id", "unit_code", "outcome"], [[700001, "BSBWHS411", "C"]])
    write_csv(tmp_path / "good.csv", UNIT_HEADER, [[700001, 31001, "BSBWHS411", "C", "", ""]])

    result = cli(*args)

    assert result.returncode == 2
    assert_one_clear_line(result.stderr, *fragments)


def test_plain_http_to_a_remote_host_is_refused(cli, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "good.csv", UNIT_HEADER, [[700001, 31001, "BSBWHS411", "C", "", ""]])

    result = cli(
        "run",
        str(sheet),
        env={
            "AXCELERATE_URL": "http://college.app.axcelerate.com/api",
            "AXCELERATE_API_TOKEN": "a",
            "AXCELERATE_WS_TOKEN": "b",
        },
    )

    assert result.returncode == 2
    assert_one_clear_line(result.stderr, "https://")


def test_unreachable_api_aborts_with_exit_3_and_results_written(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RetryPolicy, "backoff", lambda *_: 0.0)  # every retry at once: the outcome is the point
    sheet = sample(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/api"

    result = cli("run", str(sheet), url=url)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot reach aXcelerate" in result.stderr and "Traceback" not in result.stderr
    results = read_results(tmp_path / "unit-outcomes.results.csv")
    assert len(results) == 28 and {r["status"] for r in results} == {"skipped"}


def test_wrong_tokens_stop_the_run_cleanly_and_stay_secret(
    sandbox: RunningSandbox, cli_process, tmp_path: Path
) -> None:
    sheet = sample(tmp_path)
    secret_api, secret_ws = "api-SECRET-1234567", "ws-SECRET-7654321"

    result = cli_process(
        "run",
        str(sheet),
        env={"AXCELERATE_URL": sandbox.url, "AXCELERATE_API_TOKEN": secret_api, "AXCELERATE_WS_TOKEN": secret_ws},
    )

    assert result.returncode == 3
    assert "check AXCELERATE_API_TOKEN and AXCELERATE_WS_TOKEN" in result.stderr
    assert {r["status"] for r in read_results(tmp_path / "unit-outcomes.results.csv")} == {"skipped"}
    assert sandbox.stats.count("PUT", "/course/enrolment") == 0
    everything = result.stdout + result.stderr
    for written in tmp_path.rglob("*"):
        if written.is_file() and written.suffix in (".csv", ".log"):
            everything += written.read_text(encoding="utf-8-sig", errors="replace")
    assert secret_api not in everything and secret_ws not in everything


def test_tokens_never_reach_logs_or_results_on_a_good_run(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    result = cli("run", str(sample(tmp_path)), url=sandbox.url)

    assert result.returncode == 0
    logs = list((tmp_path / "logs").glob("*.log"))
    assert logs, "every run leaves a log under logs/"
    written = "".join(p.read_text(encoding="utf-8-sig") for p in [*logs, tmp_path / "unit-outcomes.results.csv"])
    assert SANDBOX_API_TOKEN not in written and SANDBOX_WS_TOKEN not in written


def test_only_failed_reruns_just_those_rows_with_their_original_row_numbers(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    rows = [
        [700001, 31001, "BSBTWK401", "C", "", ""],
        [700001, 31001, "NOPE123", "C", "", ""],
        [700002, 31001, "BSBTWK401", "CNA", "", ""],
    ]
    sheet = write_csv(tmp_path / "s.csv", UNIT_HEADER, rows)
    first = cli("run", str(sheet), url=sandbox.url)
    assert first.returncode == 1
    results_path = tmp_path / "s.results.csv"
    assert [r["status"] for r in read_results(results_path)] == ["updated", "failed", "updated"]
    # The morning after: fix the failed row's unit code in the results file and re-run only the failures.
    fixed = results_path.read_text(encoding="utf-8-sig").replace("NOPE123", "BSBPEF402")
    results_path.write_text(fixed, encoding="utf-8-sig")
    puts_before = sandbox.stats.count("PUT", "/course/enrolment")

    rerun = cli("run", str(results_path), "--only", "failed", url=sandbox.url)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    again = read_results(tmp_path / "s.results.results.csv")
    assert [(r["row"], r["status"], r["unit_code"]) for r in again] == [("3", "updated", "BSBPEF402")]
    assert sandbox.stats.count("PUT", "/course/enrolment") == puts_before + 1


def test_only_failed_with_no_failed_row_says_so_and_sends_nothing(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    assert cli("run", str(sample(tmp_path)), url=sandbox.url).returncode == 0
    requests = len(sandbox.stats.log)

    rerun = cli("run", str(tmp_path / "unit-outcomes.results.csv"), "--only", "failed", url=sandbox.url)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "0 rows" in rerun.stdout
    assert (
        "no row of unit-outcomes.results.csv is failed (it holds 23 updated, 5 unchanged), so there is nothing to "
        "re-run" in rerun.stdout
    )
    assert not (tmp_path / "unit-outcomes.results.results.csv").exists()
    assert len(sandbox.stats.log) == requests


def test_only_rejects_unknown_statuses(cli, tmp_path: Path) -> None:
    result = cli("run", str(sample(tmp_path)), "--only", "failed,broken")

    assert result.returncode == 2
    assert "broken" in result.stderr and "Traceback" not in result.stderr


def test_undo_round_trip_restores_the_starting_values(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    start = sandbox.store.snapshot()
    assert cli("run", str(sample(tmp_path)), url=sandbox.url).returncode == 0
    assert cli("run", str(sample(tmp_path, "module-enrolments.csv")), url=sandbox.url).returncode == 0
    assert sandbox.store.snapshot() != start

    undo_notes = ""
    for results in ("unit-outcomes.results.csv", "module-enrolments.results.csv"):
        made = cli("undo", str(tmp_path / results))
        undo_notes += made.stdout
        undo_sheet = tmp_path / results.replace(".csv", ".undo.csv")
        assert undo_sheet.exists(), made.stdout + made.stderr
        applied = cli("run", str(undo_sheet), url=sandbox.url)
        assert applied.returncode == 0, applied.stdout + applied.stderr

    restored = sandbox.store.snapshot()
    # Every value that was set before is back; a value that was blank before cannot be blanked by a
    # sheet (blank means "leave as it is"), and undo names those rows rather than hiding them.
    for table in ("units", "modules"):
        for key, after in restored[table].items():
            for was, now in zip(start[table][key], after, strict=True):
                assert now == was or was is None, (table, key, start[table][key], after)
    assert "not restorable: row 3: outcome was blank before" in undo_notes


def test_undo_of_a_confirming_re_run_points_to_the_kept_results_that_hold_the_writes(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    sheet = sample(tmp_path)
    assert cli("run", str(sheet), url=sandbox.url).returncode == 0
    assert cli("run", str(sheet), url=sandbox.url).returncode == 0  # every row unchanged; the first file kept aside
    kept = list(tmp_path.glob("unit-outcomes.results.*.csv"))
    assert len(kept) == 1

    made = cli("undo", str(tmp_path / "unit-outcomes.results.csv"))

    assert made.returncode == 2
    assert_one_clear_line(made.stderr, "records no updated row", f"batchupdate undo {kept[0]}")
    assert not (tmp_path / "unit-outcomes.results.undo.csv").exists()
    from_kept = cli("undo", str(kept[0]))
    assert from_kept.returncode == 1, from_kept.stdout + from_kept.stderr  # row 3's blank outcome is named
    assert (tmp_path / f"{kept[0].stem}.undo.csv").exists()


def test_undo_with_no_updated_row_and_no_kept_file_says_there_is_nothing_to_undo(cli, tmp_path: Path) -> None:
    checked = cli("check", str(sample(tmp_path)), "--results", "checked.results.csv")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    made = cli("undo", str(tmp_path / "checked.results.csv"))

    assert made.returncode == 2
    assert_one_clear_line(made.stderr, "checked.results.csv records no updated row, so it has nothing to undo")
    assert list(tmp_path.glob("*.undo.csv")) == []


def test_check_help_shows_no_connection_options_yet_accepts_them(cli, tmp_path: Path) -> None:
    shown = cli("check", "--help").stdout

    for option in ("--rate", "--concurrency", "--timeout", "--sandbox", "--module-status"):
        assert option not in shown
    assert "--map" in shown and "--kind" in shown
    same_as_run = cli("check", str(sample(tmp_path)), "--sandbox", "--rate", "4", "--timeout", "10")
    assert same_as_run.returncode == 0, same_as_run.stdout + same_as_run.stderr
    assert "Target:" not in same_as_run.stdout  # still offline: no sandbox was started


def test_template_writes_the_canonical_headers(cli, tmp_path: Path) -> None:
    assert cli("template", "units", "t.csv").returncode == 0
    assert (tmp_path / "t.csv").read_text(encoding="utf-8-sig").strip() == ",".join(UNIT_HEADER)
    assert cli("template", "modules", "m.xlsx").returncode == 0
    assert cli("template", "units", "t.csv").returncode == 2  # never overwrites


def test_sandbox_flag_runs_the_sample_without_any_setup(cli, tmp_path: Path) -> None:
    first = cli("run", str(sample(tmp_path)), "--sandbox", "--rate", "auto")  # as the README's quick start
    second = cli("run", str(sample(tmp_path)), "--sandbox", "--rate", "auto")

    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout
    assert "updated           23" in first.stdout
    assert "unchanged         28" in second.stdout and "PUT" not in second.stdout.split("Requests:")[1]


def test_undo_round_trip_is_exact_when_every_changed_field_had_a_value(
    sandbox: RunningSandbox, cli, tmp_path: Path
) -> None:
    store = sandbox.store
    enrolments = store.program_enrolments(contact_id=None, class_id=31002, program_id=None, offset=0, limit=999)
    units = [
        u
        for u in store.unit_enrolments_of([e.enrol_id for e in enrolments])
        if u.outcome_code and u.start_date and u.end_date
    ][:6]
    modules = [m for m in store.module_enrolments() if m.status_id in (1, 2) and m.start_date and m.end_date][:6]
    start = store.snapshot()
    unit_sheet = write_csv(
        tmp_path / "u.csv",
        UNIT_HEADER,
        [
            [u.contact_id, 31002, u.unit_code, "CT" if u.outcome_code != "60" else "C", "01/12/2026", "24/12/2026"]
            for u in units
        ],
    )
    module_sheet = write_csv(
        tmp_path / "m.csv",
        ["contact_id", "class_id", "module_name", "access", "start_date", "end_date"],
        [
            [
                m.contact_id,
                m.class_id,
                m.module_name,
                "locked" if m.access_override else "unlocked",
                "01/12/2026",
                "24/12/2026",
            ]
            for m in modules
        ],
    )
    for sheet in (unit_sheet, module_sheet):
        assert cli("run", str(sheet), url=sandbox.url).returncode == 0
    assert store.snapshot() != start

    for results in ("u.results.csv", "m.results.csv"):
        made = cli("undo", str(tmp_path / results))
        assert made.returncode == 0, made.stdout + made.stderr
        applied = cli("run", str(tmp_path / results.replace(".csv", ".undo.csv")), url=sandbox.url)
        assert applied.returncode == 0, applied.stdout + applied.stderr

    assert store.snapshot() == start


def test_check_plan_and_run_print_the_mapping_first(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    sheet = write_csv(
        tmp_path / "s.csv",
        ["Contact ID", "Class ID", "Unit Code", "Result", "End Date", "trainer_note"],
        [[700001, 31001, "BSBTWK401", "C", "05/03/2026", "ok"]],
    )
    line = "Columns: contact_id, class_id, unit_code, outcome <- 'Result', end_date; kept as notes: trainer_note"

    for command in ("check", "plan", "run"):
        result = cli(command, str(sheet), url=sandbox.url)
        assert result.returncode == 0, result.stdout + result.stderr
        printed = [text for text in result.stdout.splitlines() if not text.startswith("Target:")]
        assert printed[0] == line, (command, result.stdout)


def test_plan_prints_the_first_changes_as_a_table(sandbox: RunningSandbox, cli, tmp_path: Path) -> None:
    result = cli("plan", str(sample(tmp_path)), url=sandbox.url)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("Changes in the first 9 of 23 rows that change (all in the results file):")
    assert lines[start + 1].split() == ["row", "student", "record", "column", "before", "->", "after"]
    table = lines[start + 2 : lines.index("  unchanged          5")]
    assert len(table) == 20  # twenty changes, whole rows only
    store = sandbox.store
    [enrolment] = store.program_enrolments(contact_id=700001, class_id=31001, program_id=None, offset=0, limit=1)
    student = f"{enrolment.given_name} {enrolment.surname}".split()  # the name the lookups found
    cells = table[0].split()
    assert cells[1 : 1 + len(student)] == student
    assert [cells[0], *cells[1 + len(student) :]] == [
        "2",
        "contact",
        "700001,",
        "class",
        "31001,",
        "unit",
        "BSBTWK401",
        "outcome",
        "70",
        "(CA)",
        "->",
        "20",
        "(C)",
    ]
    assert table[1].split() == ["end_date", "(blank)", "->", "2026-03-05"]
    assert "  would-update      23" in lines


def test_plan_table_shows_the_student_when_the_lookups_know_the_name() -> None:
    from batchupdate.cli.sheets import plan_table
    from batchupdate.kinds.base import Change
    from batchupdate.pipeline import Planned

    planned = [
        Planned(
            2, "Ava Nguyen", "contact 700001, class 31001, unit BSBTWK401", (Change("outcome", "70 (CA)", "20 (C)"),)
        ),
        Planned(5, "", "contact 700002, class 31001, unit BSBTWK401", (Change("end_date", "", "2026-04-27"),)),
    ]

    table = plan_table(planned)

    assert table[0] == "Changes (2 rows):"
    assert table[1].split() == ["row", "student", "record", "column", "before", "->", "after"]
    assert table[2].split()[:3] == ["2", "Ava", "Nguyen"]
    assert table[3].split()[-3:] == ["(blank)", "->", "2026-04-27"]
    assert (
        plan_table(planned[:1] * 30, limit=20)[0]
        == "Changes in the first 20 of 30 rows that change (all in the results file):"
    )


def test_a_crash_in_process_shows_as_the_traceback_a_user_would_see(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process runs hide nothing: the tests that say 'never a traceback' would see one."""

    async def crash(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("batchupdate.session.run_job", crash)

    result = cli("check", str(sample(tmp_path)))

    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "ZeroDivisionError: a bug" in result.stderr
