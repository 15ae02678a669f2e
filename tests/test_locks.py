"""Locks on a shared machine: a lock folder of the user's own, no symlinks followed, one run per sheet content."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from batchupdate.errors import InputError, LockedError
from batchupdate.locks import hold_lock, hold_sheet_lock, lock_folder, lock_path
from tests.fakes import UNIT_COLUMNS as HEADER
from tests.fakes import write_csv

TARGET = "https://college.app.axcelerate.com/api/"


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "term.csv", HEADER, [["700001", "31001", "BSBWHS411", "C", "", ""]])


def test_the_lock_folder_is_the_users_own_and_closed_to_others(sheet: Path, own_runtime_folder: Path) -> None:
    with hold_lock(sheet, "the sheet"):
        folder = lock_folder()
        assert folder.parent == own_runtime_folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(lock_path(sheet).stat().st_mode) == 0o600


def test_without_a_runtime_folder_each_user_has_a_folder_in_temp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert lock_folder().name == f"batchupdate-locks-{os.getuid()}"


def test_a_lock_folder_open_to_others_is_closed(sheet: Path) -> None:
    lock_folder().mkdir(mode=0o777)
    os.chmod(lock_folder(), 0o777)
    with hold_lock(sheet, "the sheet"):
        assert stat.S_IMODE(lock_folder().stat().st_mode) == 0o700


def test_a_planted_symlink_folder_is_refused(sheet: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lock_folder().symlink_to(elsewhere)
    with pytest.raises(InputError, match="not a real folder"), hold_lock(sheet, "the sheet"):
        pass
    assert not list(elsewhere.iterdir())


def test_a_planted_symlink_lock_file_is_not_followed(sheet: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victims-file.txt"
    victim.write_text("precious", encoding="utf-8")
    lock_folder().mkdir(mode=0o700)
    lock_path(sheet).symlink_to(victim)
    with pytest.raises(InputError, match="lock file"), hold_lock(sheet, "the sheet"):
        pass
    assert victim.read_text(encoding="utf-8") == "precious"


def test_a_lock_folder_of_another_user_is_refused(sheet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock_folder().mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(lock_folder()).st_uid + 1)
    with pytest.raises(InputError, match="belongs to another user"), hold_lock(sheet, "the sheet"):
        pass


@pytest.mark.parametrize("how", ["copy", "hard link"])
def test_a_copy_or_hard_link_of_a_running_sheet_is_refused(sheet: Path, tmp_path: Path, how: str) -> None:
    other = tmp_path / "other-folder" / "same.csv"
    other.parent.mkdir()
    if how == "copy":
        other.write_bytes(sheet.read_bytes())
    else:
        os.link(sheet, other)
    with hold_sheet_lock(sheet, TARGET):
        with pytest.raises(LockedError, match="or a copy of it"), hold_sheet_lock(other, TARGET):
            pass
        with hold_sheet_lock(other, "https://college.stg.axcelerate.com/api/"):
            pass  # the same sheet against another tenant is another run


def test_a_second_run_of_a_copy_is_refused_by_the_cli(sheet: Path, tmp_path: Path, cli, sandbox) -> None:
    copy = tmp_path / "copy.csv"
    copy.write_bytes(sheet.read_bytes())
    with hold_sheet_lock(sheet, sandbox.url + "/"):
        result = cli("run", str(copy), url=sandbox.url, env={"XDG_RUNTIME_DIR": os.environ["XDG_RUNTIME_DIR"]})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "in use by another batchupdate run" in result.stderr and "Traceback" not in result.stderr
    assert sandbox.stats.count("PUT", "/course/enrolment") == 0
