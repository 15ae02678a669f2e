"""The sheet kinds, and the one registry the CLI's choices, kind detection, nightly and the web page all read.

A kind lives in one module of this package (its columns, how its rows find their records, its write).
Adding a kind means writing that module and adding one line to ``KINDS``. The registry itself imports
nothing heavy, so `batchupdate --help` can list the kinds without loading pandas or httpx.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchupdate.kinds.base import Kind
    from batchupdate.sheet import Sheet


@dataclass(frozen=True)
class KindEntry:
    """One kind in the registry: its name (as in --kind), its title for people, where its class lives."""

    name: str
    title: str
    module: str
    class_name: str

    def create(self) -> Kind[Any]:
        """A fresh instance (a kind may remember lookups during one run)."""
        kind: Kind[Any] = getattr(importlib.import_module(self.module), self.class_name)()
        return kind


KINDS: dict[str, KindEntry] = {
    entry.name: entry
    for entry in (
        KindEntry("units", "Unit outcomes", "batchupdate.kinds.units", "Units"),
        KindEntry("modules", "Learning-plan modules", "batchupdate.kinds.learning_plan", "Modules"),
    )
}
KIND_NAMES: tuple[str, ...] = tuple(KINDS)


def new_kind(name: str) -> Kind[Any]:
    """A fresh instance of the kind called ``name``."""
    return KINDS[name].create()


def all_kinds() -> dict[str, Kind[Any]]:
    """A fresh instance of each kind, by name."""
    return {name: entry.create() for name, entry in KINDS.items()}


def known_headers() -> set[str]:
    """Every column name and alias any kind recognises, for finding a sheet's header row and delimiter."""
    headers = {"row", "status"}
    for kind in all_kinds().values():
        for column in kind.columns:
            headers.update((column.name, *column.aliases))
    return headers


def detect_kind(sheet: Sheet, requested: str | None, mapping: Sequence[tuple[str, str]] = ()) -> Kind[Any]:
    """The kind named by --kind, or the one whose distinctive columns the sheet's headers feed.

    Headers count by name, alias or --map (batchupdate.columns), so a sheet headed `Outcome Code` is a units
    sheet. When no kind fits that way but exactly one has distinctive columns that headers only look like
    ("Grade", "Finish"), it is that kind: reading it then stops on those headers, naming the --map to give.
    """
    from batchupdate.columns import looks_like, mapped_columns
    from batchupdate.errors import InputError

    if requested:
        return new_kind(requested)
    kinds, headers = all_kinds().values(), sheet.written or sheet.headers
    fitting = [kind for kind in kinds if mapped_columns(headers, kind, mapping) & kind.distinctive]
    if not fitting:
        fitting = [kind for kind in kinds if looks_like(headers, kind) & kind.distinctive]
    if len(fitting) == 1:
        return fitting[0]
    found = ", ".join(sheet.headers)
    kinds_named, choices = " or a ".join(KIND_NAMES), " or ".join(f"--kind {name}" for name in KIND_NAMES)
    raise InputError(
        f"{sheet.path.name}: cannot tell whether this is a {kinds_named} sheet from its columns ({found}); "
        f"add {choices}"
    )
