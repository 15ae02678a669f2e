"""The web page: upload a sheet, see what is wrong with it and what would change, apply it, get the results.

The same pipeline as the CLI, run in the server process; `batchupdate web` (cli/web.py) serves it through command.py.
"""

from batchupdate.web.app import WebConfig, create_app

__all__ = ["WebConfig", "create_app"]
