"""Kill a run while its writes are held by a slow server, resume at once, and count the records written twice.

    python bench/late_landing.py [--cli-repo DIR] [--rows 40] [--late 2.0] [--concurrency 4] [--kills 3]
                                 [--kill-after N] [--timeout SECONDS]

The sandbox (from this checkout) holds every write ``--late`` seconds before applying it, even after the client
has gone (its ``late_landing`` fault). The CLI (from ``--cli-repo``: this checkout, or another, to compare) is
killed with SIGKILL once the sandbox has received ``--kill-after`` writes with one still held, then run again
at once to the end. Once every held write has landed, a record that received more than one PUT was written twice.
``--timeout`` is given to both runs (the CLI's own default when left out).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from batchupdate.sandbox import SANDBOX_API_TOKEN, SANDBOX_WS_TOKEN, SandboxSettings, start_sandbox  # noqa: E402

PUT = ("PUT", "/course/enrolment")
HEADER = "contact_id,class_id,unit_code,outcome,start_date,end_date\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli-repo", type=Path, default=REPO)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--late", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--kills", type=int, default=3, help="scenarios, each on a fresh sandbox")
    parser.add_argument("--kill-after", type=int, help="writes received before the kill [--concurrency]")
    parser.add_argument("--timeout", type=float, help="the CLI's --timeout for both runs [its default]")
    options = parser.parse_args()
    twice_in_all = 0
    for scenario in range(1, options.kills + 1):
        twice, in_the_air, puts, resume_seconds = one_scenario(options)
        twice_in_all += twice
        print(
            f"scenario {scenario}: {in_the_air} writes in the air at the kill; {twice} records written twice; "
            f"{puts} PUTs; resume took {resume_seconds:.1f} s"
        )
    print(f"CLI from {options.cli_repo}: {twice_in_all} records written twice in {options.kills} kills")


def one_scenario(options: argparse.Namespace) -> tuple[int, int, int, float]:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        settings = SandboxSettings(db_path=work / "sandbox.sqlite3", late_landing=options.late)
        with start_sandbox(settings) as sandbox:
            sheet = work / "late.csv"
            sheet.write_text(HEADER + "".join(f"{','.join(row)}\n" for row in rows(sandbox.store, options.rows)))
            env = {**os.environ, "PYTHONPATH": str(options.cli_repo), "AXCELERATE_URL": sandbox.url}
            env.update(AXCELERATE_API_TOKEN=SANDBOX_API_TOKEN, AXCELERATE_WS_TOKEN=SANDBOX_WS_TOKEN)
            command = [sys.executable, "-m", "batchupdate", "run", str(sheet), "--no-progress"]
            command += ["--concurrency", str(options.concurrency), "--rate", "80"]
            command += ["--timeout", str(options.timeout)] if options.timeout is not None else []
            first = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            stats = sandbox.stats
            kill_after = options.kill_after or options.concurrency
            while stats.count(*PUT) < kill_after or stats.count(*PUT) <= stats.writes_applied:
                assert first.poll() is None, "the run ended before the kill"
                time.sleep(0.002)
            first.kill()
            first.wait()
            in_the_air = stats.count(*PUT) - stats.writes_applied
            started = time.monotonic()
            subprocess.run(command, cwd=work, env=env, capture_output=True, check=False, timeout=600)
            resume_seconds = time.monotonic() - started
            time.sleep(options.late + 1.0)  # every held write has landed by now
            puts = Counter(
                (params["contactid"], params["instanceid"])
                for method, path, params in sandbox.stats.log
                if (method, path) == PUT
            )
            twice = sum(1 for count in puts.values() if count > 1)
            return twice, in_the_air, sum(puts.values()), resume_seconds


def rows(store, count: int) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Sheet rows that each change one unit enrolment's outcome and end date."""
    chosen: list[list[str]] = []
    for class_id in (31001, 31002, 31003):
        enrolments = store.program_enrolments(contact_id=None, class_id=class_id, program_id=None, offset=0, limit=999)
        for unit in store.unit_enrolments_of([enrolment.enrol_id for enrolment in enrolments]):
            if unit.outcome_code != "70" and (unit.start_date or "") <= "2026-06-30":
                chosen.append([str(unit.contact_id), str(class_id), unit.unit_code, "CA", "", "30/06/2026"])
    return chosen[:count]


if __name__ == "__main__":
    main()
