"""Fixtures for end-to-end tests: a real sandbox on loopback and the real CLI in a subprocess."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, RunningSandbox, SandboxSettings, start_sandbox

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes with chosen knobs on a fresh database in tmp_path; all stopped afterwards."""
    running: list[RunningSandbox] = []

    def _start(**knobs: object) -> RunningSandbox:
        settings = SandboxSettings(db_path=tmp_path / "sandbox.sqlite3", **knobs)  # type: ignore[arg-type]
        sandbox = start_sandbox(settings)
        running.append(sandbox)
        return sandbox

    yield _start
    for sandbox in running:
        sandbox.stop()


@pytest.fixture
def sandbox(start: Callable[..., RunningSandbox]) -> RunningSandbox:
    """A fresh, faultless sandbox."""
    return start()


def cli_env(url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AXCELERATE_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if url:
        env.update(AXCELERATE_URL=url, AXCELERATE_API_TOKEN=SANDBOX_API_TOKEN, AXCELERATE_WS_TOKEN=SANDBOX_WS_TOKEN)
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `batchupdate ARGS` as a user would, in tmp_path, pointed at a sandbox URL (or none)."""

    def _run(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batchupdate", *args, "--no-progress"]
            if args[0] in ("check", "plan", "run")
            else [sys.executable, "-m", "batchupdate", *args],
            cwd=tmp_path,
            env={**cli_env(url), **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )

    return _run


@dataclass(frozen=True)
class Ran:
    """What a user sees of one command: its exit code and its output (stdout, stderr)."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """Run `batchupdate ARGS` in this process (click's CliRunner), in tmp_path, pointed at a sandbox URL (or none).

    The same commands as ``cli`` without a Python start-up per run, for tests that run the CLI many times.
    """
    from click.testing import CliRunner

    from batchupdate.cli import main

    monkeypatch.chdir(tmp_path)
    for key in [key for key in os.environ if key.startswith("AXCELERATE_")]:
        monkeypatch.delenv(key)

    def _run(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> Ran:
        settings = (
            {}
            if url is None
            else {
                "AXCELERATE_URL": url,
                "AXCELERATE_API_TOKEN": SANDBOX_API_TOKEN,
                "AXCELERATE_WS_TOKEN": SANDBOX_WS_TOKEN,
            }
        )
        argv = [*args, "--no-progress"] if args[0] in ("check", "plan", "run") else list(args)
        result = CliRunner().invoke(main, argv, env={**settings, **(env or {})}, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    return _run


def read_results(path: Path) -> list[dict[str, str]]:
    """A results file (CSV or .xlsx) as a user's spreadsheet would show it, every cell as text."""
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.load_workbook(path, read_only=True)
        try:
            lines = [["" if cell is None else str(cell) for cell in row] for row in book.worksheets[0].values]
        finally:
            book.close()
        width = len(lines[0])  # a row's empty trailing cells are not stored
        return [dict(zip(lines[0], [*line, *[""] * (width - len(line))], strict=True)) for line in lines[1:]]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
