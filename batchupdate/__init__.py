"""batchupdate: apply unit outcomes and learning-plan module changes from spreadsheets to aXcelerate.

The library's front door is ``execute(Job(...), api)``; it is imported on first use, so that the command
line answers `--help` without loading pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchupdate.pipeline import Job, Report, execute

__all__ = ["Job", "Report", "execute"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from batchupdate import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'batchupdate' has no attribute {name!r}")
