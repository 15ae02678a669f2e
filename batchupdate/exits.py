"""The exit codes of every command, as the contract gives them (scripts and schedulers rely on them)."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """How a command ended."""

    OK = 0  # every row updated, unchanged or would-update
    PROBLEMS = 1  # some rows invalid, failed or skipped: the results say which
    USAGE = 2  # usage or input error: nothing sent
    STOPPED = 3  # the run stopped (bad tokens, aXcelerate unreachable): results written for what was done
