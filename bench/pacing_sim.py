"""The pacer alone, on a fake clock: a simulated server (limit 50/s, 50 ms latency, 16 workers) clean, after 4
early 429s without Retry-After, and after one early 429 with `Retry-After: 1`; no machine load can blur it.

    python bench/pacing_sim.py                      # the pacer in this checkout
    python bench/pacing_sim.py --pacer-from c125a14 # ... and the one in that commit, side by side

The simulated server and client are `simulate_workers` of tests/test_pacing.py (the client's 429 backoff at its
upper bound). Seconds are simulated seconds, without Python's start-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from batchupdate.pacing import Pacer  # noqa: E402
from tests.fakes import FakeClock  # noqa: E402
from tests.test_pacing import simulate_workers  # noqa: E402

SCENARIOS: dict[str, dict[str, Any]] = {
    "clean": {},
    "4 early 429s, no Retry-After": {"early_429s": 4},
    "1 early 429, Retry-After: 1": {"early_429s": 1, "early_retry_after": 1.0},
}


def pacer_of(commit: str) -> type[Pacer]:
    """The Pacer class of batchupdate/pacing.py as it was in ``commit``."""
    source = subprocess.run(["git", "show", f"{commit}:batchupdate/pacing.py"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / f"pacing_{commit}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    pacer: type[Pacer] = module.Pacer
    return pacer


def seconds(pacer_class: type[Pacer], requests: int, **faults: Any) -> float:
    clock = FakeClock(start=0.0)
    pacer = pacer_class(adaptive=True, clock=clock, sleep=clock.sleep)
    taken, _ = simulate_workers(pacer, clock, limit=50, latency=0.05, requests=requests, workers=16, **faults)
    return taken


def table(pacer_from: str | None = None) -> str:
    """The simulated seconds as a markdown table: this checkout's pacer, after ``pacer_from``'s if given."""
    pacers = {"this checkout": Pacer}
    if pacer_from:
        pacers = {pacer_from: pacer_of(pacer_from), **pacers}
    lines = ["| Pacer | Requests | " + " | ".join(SCENARIOS) + " |", "|---|---|" + "---|" * len(SCENARIOS)]
    for name, pacer_class in pacers.items():
        for requests in (100, 400, 5000):
            chosen = SCENARIOS if requests < 5000 else {"clean": {}}
            cells = [f"{seconds(pacer_class, requests, **faults):.1f} s" for faults in chosen.values()]
            cells += [""] * (len(SCENARIOS) - len(cells))
            lines.append(f"| {name} | {requests:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pacer-from", help="a commit whose pacer to show beside this checkout's")
    print(table(parser.parse_args().pacer_from))


if __name__ == "__main__":
    main()
