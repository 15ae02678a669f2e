"""batchupdate: apply unit outcomes and learning-plan module changes from spreadsheets to aXcelerate."""

from batchupdate.pipeline import Job, Report, execute

__all__ = ["Job", "Report", "execute"]
__version__ = "0.1.0"
