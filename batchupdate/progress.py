"""What a run tells whoever shows its progress (the CLI's bar, the nightly log, the web page), and asks them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchupdate.columns import HeaderMap
    from batchupdate.pipeline import Planned
    from batchupdate.results import RowResult


LONG_WAIT = 10.0  # seconds: a wait at least this long is shown, with its reason


class Progress:
    """Told how the headers were read, how many rows there are, then of each row as it finishes.

    The default shows nothing and never asks: unattended callers (nightly, scripts) go ahead.
    """

    def columns(self, mapping: HeaderMap) -> None:
        """How the sheet's headers were read (which header feeds which column, the notes), before any row."""

    def start(self, total: int) -> None:
        """The number of rows to decide."""

    def advance(self, result: RowResult) -> None:
        """One more row decided, and how (its line is already in the results file)."""

    def waiting(self, seconds: float, reason: str) -> None:
        """The run is about to wait this long before going on, and why: told to the person when it is long."""
        if seconds >= LONG_WAIT:
            self.notice(f"waiting {seconds:.0f} s: {reason}")

    def notice(self, message: str) -> None:
        """Something the person watching should know now (a long wait, a stop under way)."""

    def confirm(self, writes: Sequence[Planned]) -> bool:
        """Whether to send these writes: asked once, after the lookups and before the first write of a run."""
        return True
