"""What the READMEs tell a user holds: every command and option they name exists, and the sample rows they name
as already so are the ones a fresh sandbox finds already so."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from batchupdate.cli import main
from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, SandboxSettings, start_sandbox
from tests.fakes import REPO, SAMPLES, read_results

README = REPO / "README.md"
_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")
_PROGRAM = re.compile(r"^(?:[A-Za-z]+=)?(?:\S*[/\\])?batchupdate(?:\.exe)?$")  # batchupdate, .venv/bin/batchupdate...
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b")
# Options the README names for tools other than batchupdate, and where each is defined.
OTHER_TOOLS = {"--quick": REPO / "bench" / "run.py", "--pacing": REPO / "bench" / "run.py"}


def code_of(text: str) -> list[str]:
    """The README's code, line by line: fenced blocks and inline spans, where commands and options are named."""
    fenced = [line for block in _FENCED.findall(text) for line in block.splitlines()]
    prose = _FENCED.sub("", text)
    return fenced + _INLINE.findall(prose)


def named(text: str) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(command, option) pairs of each `batchupdate COMMAND ...`, the commands, and options named on their own.

    A line is split into shell commands (at &&, ;, |); one that runs another program (pip, systemctl...)
    names nothing of batchupdate's.
    """
    pairs: set[tuple[str, str]] = set()
    commands: set[str] = set()
    loose: set[str] = set()
    for line in code_of(text):
        line = line.split(" #", 1)[0]  # a shell comment after a command is prose
        for part in re.split(r"&&|;|\|", line):
            words = part.split()
            if words and _PROGRAM.match(words[0]):
                if len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*", words[1]):
                    commands.add(words[1])
                    pairs.update((words[1], option) for option in _OPTION.findall(" ".join(words[2:])))
            elif words and words[0].startswith("-"):
                loose.update(_OPTION.findall(part))
    return pairs, commands, loose


@cache
def help_of(command: str) -> str:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, (command, result.output)
    return result.output


def test_the_readme_names_commands_and_options_at_all() -> None:
    pairs, commands, loose = named(README.read_text(encoding="utf-8"))
    assert {"check", "plan", "run", "undo", "template", "nightly", "web", "sandbox"} <= commands
    assert ("run", "--only") in pairs and "--rate" in loose  # the parser sees both forms


@pytest.mark.parametrize("command", sorted(named(README.read_text(encoding="utf-8"))[1]))
def test_every_command_the_readme_names_exists(command: str) -> None:
    assert command in main.commands, f"README names `batchupdate {command}`, which is no command"
    assert help_of(command)


@pytest.mark.parametrize(("command", "option"), sorted(named(README.read_text(encoding="utf-8"))[0]))
def test_every_option_the_readme_gives_a_command_is_in_its_help(command: str, option: str) -> None:
    assert re.search(rf"(?<![\w-]){re.escape(option)}\b", help_of(command)), (
        f"README writes `batchupdate {command} ... {option}`, which `batchupdate {command} --help` does not list"
    )


@pytest.mark.parametrize("option", sorted(named(README.read_text(encoding="utf-8"))[2]))
def test_every_option_the_readme_names_belongs_to_some_command(option: str) -> None:
    if option in ("-h", "--help", "--version"):
        return
    if option in OTHER_TOOLS:
        assert option in OTHER_TOOLS[option].read_text(encoding="utf-8")
        return
    owners = [command for command in main.commands if re.search(rf"(?<![\w-]){re.escape(option)}\b", help_of(command))]
    assert owners, f"README names {option}, which no command's --help lists"


# ---------------------------------------------------------------- samples/README.md against a fresh seed


def rows_named_already_so(section: str) -> set[int]:
    """The row numbers samples/README.md says already hold, from its line `Rows 4, 6 ... already hold ...`."""
    match = re.search(r"Rows? ([\d, and]+?) (?:\([^)]*\) )?(?:already hold|need no change)", section)
    assert match, section
    return {int(number) for number in re.findall(r"\d+", match.group(1))}


@pytest.mark.parametrize(
    ("sample", "counts"), [("unit-outcomes.csv", (28, 23, 5)), ("module-enrolments.csv", (12, 10, 2))]
)
def test_samples_readme_names_the_rows_a_fresh_seed_already_holds(
    sample: str, counts: tuple[int, int, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {sample}", 1)[1].split("\n## ", 1)[0]
    total, updated, unchanged = counts
    assert f"({total} rows: {updated} `updated`, {unchanged} `unchanged` against a fresh seed)" in section
    sheet = tmp_path / sample
    sheet.write_bytes((SAMPLES / sample).read_bytes())
    monkeypatch.chdir(tmp_path)
    with start_sandbox(SandboxSettings(db_path=tmp_path / "fresh.sqlite3")) as sandbox:
        env = {"AXCELERATE_URL": sandbox.url, "AXCELERATE_API_TOKEN": SANDBOX_API_TOKEN}
        env["AXCELERATE_WS_TOKEN"] = SANDBOX_WS_TOKEN
        result = CliRunner().invoke(main, ["run", str(sheet), "--no-progress"], env=env)
    assert result.exit_code == 0, result.output
    lines = read_results(tmp_path / sample.replace(".csv", ".results.csv"))
    already = {int(line["row"]) for line in lines if line["status"] == "unchanged"}
    assert len(lines) == total and len(already) == unchanged
    assert rows_named_already_so(section) == already
