"""Fixtures for end-to-end tests: a real sandbox on loopback, and the real CLI in this process or in its own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchupdate.sandbox import RunningSandbox, SandboxSettings, Store, start_sandbox
from tests.fakes import LocalSandbox, Ran, cli_env, invoke_cli

SHEET_COMMANDS = ("check", "plan", "run")  # they show a progress bar unless told not to
# `--rate auto` starts at 10 requests a second and doubles each clean second: against a sandbox with no limit
# that is only waiting. A test about the pacer against a limit names its --rate (auto included).
PACED_COMMANDS = ("plan", "run", "nightly")
UNLIMITED = ["--rate", "1000"]


@pytest.fixture(autouse=True)
def own_runtime_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own lock folder (batchupdate.locks): a test on another worker running the same sheet
    against the same target is not another run of this one. Processes a test starts inherit it."""
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime


def options_for(args: tuple[str, ...]) -> list[str]:
    """What the CLI fixtures add to ``args``: no progress bar, and no slow start where no --rate is named."""
    added = ["--no-progress"] if args[0] in SHEET_COMMANDS else []
    if args[0] in PACED_COMMANDS and "--rate" not in args:
        added += UNLIMITED
    return [*args, *added]


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


@pytest.fixture(scope="session")
def fresh_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox database as it is when first created: the demo data, untouched."""
    path = tmp_path_factory.mktemp("seed") / "fresh.sqlite3"
    Store.open(path).close()
    return path


@pytest.fixture(scope="session")
def shared_sandbox(fresh_seed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """One faultless sandbox for the whole session (starting and stopping one costs a quarter of a second)."""
    settings = SandboxSettings(db_path=tmp_path_factory.mktemp("shared-sandbox") / "sandbox.sqlite3")
    with start_sandbox(settings) as running:
        yield running


@pytest.fixture
def sandbox(shared_sandbox: RunningSandbox, fresh_seed: Path) -> RunningSandbox:
    """A sandbox holding the fresh seed, no fault scripted, its counters at zero."""
    shared_sandbox.store.restore(fresh_seed)
    shared_sandbox.script.clear()
    shared_sandbox.stats.reset()
    return shared_sandbox


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalSandbox]:
    """The real sandbox app in this process, on a fresh seed (an Api to it runs on a FakeClock)."""
    sandbox = LocalSandbox(tmp_path / "local-sandbox.sqlite3")
    yield sandbox
    sandbox.close()


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Ran]:
    """Run `batchupdate ARGS` in this process, in tmp_path, pointed at a sandbox URL (or none)."""

    def _run(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> Ran:
        return invoke_cli(options_for(args), tmp_path, url, env)

    return _run


@pytest.fixture
def cli_process(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `batchupdate ARGS` as its own process, for what only a process shows: its real exit status."""

    def _run(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "batchupdate", *options_for(args)],
            cwd=tmp_path,
            env={**cli_env(url), **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )

    return _run
