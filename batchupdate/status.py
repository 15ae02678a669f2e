"""What became of a row: the closed set of words the results file's `status` column holds (the contract's)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A row's fate; the values are the words scripts and the results file use."""

    UPDATED = "updated"  # written, and aXcelerate now holds the values
    UNCHANGED = "unchanged"  # already so: nothing sent
    WOULD_UPDATE = "would-update"  # plan only: this would be written
    INVALID = "invalid"  # failed validation: nothing sent
    FAILED = "failed"  # aXcelerate refused it, or its record could not be found
    SKIPPED = "skipped"  # not attempted: a duplicate row, a limit, or the run stopped
    VALID = "valid"  # check only: passed validation (in a results file only when check is given --results)


# The statuses a results file may hold, in the contract's order.
RESULT_STATUSES: tuple[Status, ...] = tuple(status for status in Status if status is not Status.VALID)
# Rows that did not get what they asked for: they make the exit code 1 and are what a re-run picks.
PROBLEMS: frozenset[Status] = frozenset({Status.INVALID, Status.FAILED, Status.SKIPPED})
