"""`run` against a PRODUCTION tenant asks on a terminal before the first write; --yes and no terminal go ahead.

The sandbox plays the tenant; its target is made to read PRODUCTION as a real tenant's URL would, so the guard
is the real one. Only "is this a terminal" is decided by the test (click's runner has no terminal).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchupdate.cli import sheets
from batchupdate.config import Connection
from batchupdate.sandbox import RunningSandbox
from tests.fakes import Ran, invoke_cli, read_results, write_csv

TENANT = "PRODUCTION yourcollege.app.axcelerate.com"
HEADER = ["contact_id", "class_id", "unit_code", "outcome", "end_date"]
ROWS = [
    ["700001", "31001", "BSBTWK401", "C", "05/03/2026"],  # changes
    ["700001", "31001", "BSBXCM401", "20", ""],  # already so in the seed
    ["700002", "31001", "BSBTWK401", "CNA", ""],  # changes
]


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Connection, "target", property(lambda self: TENANT))


def terminal(monkeypatch: pytest.MonkeyPatch, present: bool = True) -> None:
    monkeypatch.setattr(sheets, "_on_terminal", lambda: present)


def run(
    tmp_path: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    answer: str | None = None,
    command: str = "run",
) -> Ran:
    monkeypatch.chdir(tmp_path)
    sheet = write_csv(tmp_path / "term4.csv", HEADER, ROWS)
    return invoke_cli([command, str(sheet), "--no-progress", *args], tmp_path, sandbox.url, answer=answer)


def writes(sandbox: RunningSandbox) -> list[dict[str, str]]:
    return [fields for method, _, fields in sandbox.stats.log if method == "PUT"]


def statuses(tmp_path: Path) -> list[tuple[str, str]]:
    return [(line["status"], line["error"]) for line in read_results(tmp_path / "term4.results.csv")]


def test_no_ends_the_run_with_nothing_written(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    terminal(monkeypatch)

    result = run(tmp_path, sandbox, monkeypatch, answer="n\n")

    assert result.returncode == 1, result.output
    assert f"Target: {TENANT}" in result.stdout
    assert f"About to write 2 rows to {TENANT}." in result.stderr
    assert "Write them? [y/N]" in result.stderr
    # The changes are shown before the question, as a table a person can check.
    assert "row  student" in result.stderr  # the lookups named the students
    assert "contact 700001, class 31001, unit BSBTWK401  outcome   70 (CA) -> 20 (C)" in result.stderr
    assert writes(sandbox) == []
    assert sandbox.stats.count("GET", "/course/enrolments") >= 1  # the lookups that counted the writes
    assert statuses(tmp_path) == [
        ("skipped", "not attempted: not confirmed"),
        ("unchanged", ""),
        ("skipped", "not attempted: not confirmed"),
    ]
    assert "Not confirmed: no write was sent; the 2 rows to write are skipped" in result.stdout
    assert "Traceback" not in result.output


def test_yes_at_the_question_writes(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    terminal(monkeypatch)

    result = run(tmp_path, sandbox, monkeypatch, answer="y\n")

    assert result.returncode == 0, result.output
    assert "Write them? [y/N]" in result.stderr
    assert sorted(fields["contactid"] for fields in writes(sandbox)) == ["700001", "700002"]
    assert [status for status, _ in statuses(tmp_path)] == ["updated", "unchanged", "updated"]


def test_end_of_input_at_the_question_is_no(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    terminal(monkeypatch)

    result = run(tmp_path, sandbox, monkeypatch, answer="")

    assert result.returncode == 1, result.output
    assert writes(sandbox) == []
    assert "Traceback" not in result.output


def test_the_question_counts_only_the_writes_a_cap_lets_through(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    terminal(monkeypatch)

    result = run(tmp_path, sandbox, monkeypatch, "--max-changes", "1", answer="n\n")

    assert f"About to write 1 row to {TENANT}." in result.stderr
    assert writes(sandbox) == []


@pytest.mark.parametrize(
    ("args", "on_terminal"),
    [
        pytest.param(["--yes"], True, id="--yes"),
        pytest.param(["-y"], True, id="-y"),
        pytest.param([], False, id="no terminal (cron, scripts)"),
    ],
)
def test_yes_or_no_terminal_goes_ahead_without_asking(
    tmp_path: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    production: None,
    args: list[str],
    on_terminal: bool,
) -> None:
    terminal(monkeypatch, on_terminal)

    result = run(tmp_path, sandbox, monkeypatch, *args)

    assert result.returncode == 0, result.output
    assert "Write them?" not in result.output
    assert len(writes(sandbox)) == 2


def test_a_tenant_that_is_not_production_is_not_asked_about(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal(monkeypatch)  # the sandbox's own target: loopback, not PRODUCTION

    result = run(tmp_path, sandbox, monkeypatch)

    assert result.returncode == 0, result.output
    assert "Write them?" not in result.output
    assert len(writes(sandbox)) == 2


def test_nothing_to_write_asks_nothing(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    terminal(monkeypatch)
    assert run(tmp_path, sandbox, monkeypatch, "--yes").returncode == 0

    again = run(tmp_path, sandbox, monkeypatch)

    assert again.returncode == 0, again.output
    assert "Write them?" not in again.output
    assert [status for status, _ in statuses(tmp_path)] == ["unchanged"] * 3


def test_plan_never_asks(
    tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, production: None
) -> None:
    terminal(monkeypatch)

    result = run(tmp_path, sandbox, monkeypatch, command="plan")

    assert result.returncode == 0, result.output
    assert "Write them?" not in result.output
    assert writes(sandbox) == []
