"""What a run tells whoever shows its progress (the CLI's bar, the nightly log, the web page)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchupdate.results import RowResult


class Progress:
    """Told how many rows there are, then of each row as it finishes; the default shows nothing."""

    def start(self, total: int) -> None:
        """The number of rows to decide."""

    def advance(self, result: RowResult) -> None:
        """One more row decided, and how (its line is already in the results file)."""
