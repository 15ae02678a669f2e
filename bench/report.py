"""docs/benchmarks.md holds one section per benchmark, each between its own markers and rewritten alone.

A benchmark that runs puts its section in place of its last one (or at the end), so running one never drops
another's measured figures.
"""

from __future__ import annotations

from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def put_section(name: str, text: str, path: Path = REPORT) -> None:
    """Write ``text`` as the section ``name`` of the report, between ``<!-- name -->`` and ``<!-- /name -->``."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if start in current and end in current:
        current = current[: current.index(start)] + block + current[current.index(end) + len(end) :]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(current, encoding="utf-8")
