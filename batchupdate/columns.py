"""Which sheet header feeds which column: by name, by alias, by `--map`, or kept as a note; never by a guess.

Every header of a sheet ends in exactly one place, decided in this order:

1. ``--map "Header=column"`` (or ``=note``): what the user said.
2. A column's name or one of its aliases (``Column.aliases``), matched ignoring case, spaces, '_' and '-'.
3. A header known not to be a column: what `batchupdate export` writes beside the columns, the columns a
   results file adds, and the usual headers of aXcelerate's exports and reports (Email, Full Name, Learner ID,
   Enrolment Date, Class Descriptor...): kept as a note, passed through to the results untouched.
4. A header that looks like a column (one of its words, such as "outcome", "date" or "finish", or a near
   miss of a column's name or alias, such as "Outcme") is a question: the sheet stops (exit 2) naming the
   likely columns and the `--map` that settles it. The one exception: a header with a describing word
   ("Unit Name", "Outcome Comment") whose every likely column is already fed by another header is a note.
5. Anything else is a note.

A header that one kind calls a column and the sheet's kind does not (``access`` in a units sheet) is a
question too: the sheet cannot do what it seems to ask.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batchupdate.errors import InputError
from batchupdate.sheet import header_key

if TYPE_CHECKING:
    from batchupdate.kinds.base import Kind
    from batchupdate.sheet import Sheet

NOTE = "note"  # --map "Header=note": keep the header as it is, whatever it looks like

# Written by `batchupdate export` beside the real columns: what staff check a row against, never input.
EXPORT_NOTES = ("student_name", "class_name", "unit_name", "current_access")
# Headers of aXcelerate's exports, reports and API listings (and what staff add) that are not columns.
KNOWN_NOTES = (
    # the student
    "Name",
    "Full Name",
    "Given Name",
    "First Name",
    "Preferred Name",
    "Surname",
    "Last Name",
    "Family Name",
    "Student Name",
    "Learner Name",
    "Email",
    "Email Address",
    "Mobile",
    "Mobile Phone",
    "MobilePhone",
    "Phone",
    "Learner ID",
    "USI",
    "Date of Birth",
    "DOB",
    "Gender",
    "contacts.fullname",
    # the enrolment, class and course
    "Enrolment Date",
    "Enrollment Date",
    "Date Enrolled",
    "enrolments.dateenrolled",
    "Enrol ID",
    "Enrolment ID",
    "enrolments.enrolid",
    "Amount Paid",
    "Delivery",
    "Delivery Mode",
    "Class Name",
    "Class Descriptor",
    "classes.classdescriptor",
    "Course Name",
    "Program Name",
    "Qualification",
    "Qualification Name",
    "Qualification Code",
    "Learning Plan Name",
    "enrolments.learningplanname",
    "Module Status",
    "learningmoduleenrolments.status",
    "Enrolment Status",
    "Unit Name",
    "Unit Title",
    "Subject Name",
    "Type",
    "Organisation",
    "Employer",
    "Trainer",
    "Trainer Name",
    "Trainer Full Name",
    "Location",
    "Last Updated",
    "Last Updated UTC",
    "LASTUPDATEDUTC",
    # what staff write beside the values
    "Note",
    "Notes",
    "Comment",
    "Comments",
    "Trainer Note",
    "Trainer Notes",
)

# Words that make a header look like a column, and the columns they suggest. Short words count only as a
# whole word of the header ("End Date", "unit_code"); longer ones also inside one ("OUTCOMECODE", "Startdate").
_SIGNALS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("contact", "contacts", "student", "students", "learner"), ("contact_id",)),
    **dict.fromkeys(("class", "classes", "instance"), ("class_id",)),
    **dict.fromkeys(("unit", "units", "subject", "subjects", "uoc"), ("unit_code", "unit_id")),
    **dict.fromkeys(("module", "modules"), ("module_name", "module_enrolment_id")),
    **dict.fromkeys(
        # aXcelerate shows a unit's short outcome code (C, CNA) as its STATUS.
        ("outcome", "outcomes", "result", "results", "competent", "competency", "grade", "status"),
        ("outcome",),
    ),
    **dict.fromkeys(("access", "lock", "locked", "unlock", "unlocked", "override"), ("access",)),
    **dict.fromkeys(("start", "started", "commence", "commenced", "commencement", "begin", "begins"), ("start_date",)),
    **dict.fromkeys(
        ("end", "ends", "ended", "finish", "finished", "completion", "completed", "complete"), ("end_date",)
    ),
    **dict.fromkeys(("date", "dates", "day"), ("start_date", "end_date")),
}
_INSIDE_WORD = 5  # a signal this long or longer also counts inside a longer word
_DESCRIBING = frozenset(
    {"name", "names", "title", "description", "descriptor", "email", "phone", "mobile", "address"}
    | {"note", "notes", "comment", "comments", "remark", "remarks", "reason"}
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_NEAR_MISS = 0.85  # how alike a header and a column's name must be to be taken for a misspelling of it

# Headers that are a column's bare noun, which by themselves say too little to be taken without asking.
_BARE: dict[str, tuple[str, ...]] = {
    "code": ("unit_code",),  # aXcelerate's CODE: a unit's code in ACTIVITIES, the qualification's on an enrolment
    "id": ("contact_id", "class_id", "unit_id", "module_enrolment_id"),
}
_RESULT_COLUMNS = ("row", "status", "error", "changes")  # results.COMMON_COLUMNS, for the message

NAME, ALIAS, MAPPED = "name", "alias", "--map"


@dataclass(frozen=True)
class Question:
    """A header that looks like a column but is none: the columns it may be, or why it cannot be one."""

    header: str
    choices: tuple[str, ...]
    other_kind: str | None = None  # set when it is a column of another kind of sheet
    results_name: bool = False  # set when it is named like a column a results file adds (row, status...)

    def __str__(self) -> str:
        if self.other_kind:
            return f"{self.header!r} is a column of {self.other_kind} sheets, not of this kind"
        if self.results_name:
            could = f" (it could be {' or '.join(self.choices)})" if self.choices else ""
            return f"{self.header!r} has the name of a column batchupdate adds to its results{could}"
        if len(self.choices) == 1:
            return f"{self.header!r} looks like {self.choices[0]}"
        return f"{self.header!r} could be {' or '.join(self.choices)}"


class HeaderQuestions(InputError):
    """Headers that look like columns but are none: the sheet stops until each is mapped or kept as a note."""

    def __init__(self, message: str, questions: Sequence[Question]) -> None:
        super().__init__(message)
        self.questions = tuple(questions)


@dataclass(frozen=True)
class HeaderMap:
    """How a sheet's headers were read: which header feeds each column (and how it was known), the notes."""

    sources: Mapping[str, str]  # column -> the sheet's header (its unique name, as in Sheet.headers)
    written: Mapping[str, str] = field(default_factory=dict)  # column -> the header as the sheet writes it
    how: Mapping[str, str] = field(default_factory=dict)  # column -> NAME, ALIAS or MAPPED
    notes: tuple[str, ...] = ()  # headers kept as they are

    def describe(self) -> str:
        """One line for the screen: `contact_id, outcome <- 'Result', ...; kept as notes: trainer_note`."""
        used = [
            column if self.how.get(column) == NAME else f"{column} <- {self.written.get(column, header)!r}"
            for column, header in self.sources.items()
        ]
        line = f"Columns: {', '.join(used)}"
        if self.notes:
            line += f"; kept as notes: {', '.join(self.notes)}"
        return line


def parse_map_option(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """--map values ("Header=column", "Header=note") as (header, column) pairs; InputError with the fix."""
    from batchupdate.kinds import all_kinds

    columns = {header_key(column.name): column.name for kind in all_kinds().values() for column in kind.columns}
    pairs: list[tuple[str, str]] = []
    for value in values:
        header, equals, column = value.rpartition("=")
        header = header.strip()
        if not equals or not header or not column.strip():
            raise InputError(f'--map {value!r} is not Header=column; write e.g. --map "Result=outcome"')
        key = header_key(column)
        if key == NOTE:
            pairs.append((header, NOTE))
        elif key in columns:
            pairs.append((header, columns[key]))
        else:
            known = ", ".join(dict.fromkeys(columns.values()))
            raise InputError(f"--map {value!r}: {column.strip()!r} is not a column; use one of {known}, or note")
    keys = [header_key(header) for header, _ in pairs]
    repeated = sorted({header for header, key in zip((h for h, _ in pairs), keys, strict=True) if keys.count(key) > 1})
    if repeated:
        raise InputError(f"--map names the header {repeated[0]!r} more than once; keep one")
    return tuple(pairs)


def mapped_columns(headers: Sequence[str], kind: Kind[Any], mapping: Sequence[tuple[str, str]] = ()) -> set[str]:
    """The kind's columns these headers feed by name, alias or --map (no questions asked), for kind detection."""
    explicit = {header_key(header): column for header, column in mapping}
    names = _names(kind)
    found: set[str] = set()
    for header in headers:
        key = header_key(header)
        column = explicit.get(key, names.get(key))
        if column is not None and column != NOTE and column in names.values():
            found.add(column)
    return found


def named_columns(headers: Sequence[str], kind: Kind[Any]) -> dict[str, int]:
    """Column -> the position of the first header naming it by name or alias (no --map, no questions).

    For readers of a results file (undo) that need the input's ids without re-validating the sheet.
    """
    names = _names(kind)
    found: dict[str, int] = {}
    for position, header in enumerate(headers):
        column = names.get(header_key(header))
        if column is not None:
            found.setdefault(column, position)
    return found


def looks_like(headers: Sequence[str], kind: Kind[Any]) -> set[str]:
    """The kind's columns some header only looks like (the questions it would ask), for kind detection."""
    names = _names(kind)
    return {choice for header in headers for choice in _likely(header_key(header), header, kind, names)}


def map_headers(sheet: Sheet, kind: Kind[Any], mapping: Sequence[tuple[str, str]] = ()) -> HeaderMap:
    """Every header of the sheet as a column of ``kind`` or a note; HeaderQuestions (or InputError) otherwise."""
    from batchupdate.results import COMMON_COLUMNS, results_start

    # The input part of a results file fed back in may itself hold an earlier run's columns: notes, not clashes.
    results_file = results_start(sheet) is not None
    result_keys = frozenset(header_key(name) for name in COMMON_COLUMNS)
    written = sheet.written or sheet.headers
    explicit = {header_key(header): (header, column) for header, column in mapping}
    names = _names(kind)
    other = _other_kinds(kind)
    sources: dict[str, list[int]] = {}
    how: dict[str, str] = {}
    notes: list[int] = []
    questions: list[tuple[int, Question]] = []
    undecided: list[int] = []
    for position, header in enumerate(written):
        key = header_key(header)
        if key in explicit:
            column = explicit[key][1]
            if column == NOTE:
                notes.append(position)
                continue
            if column not in names.values():
                raise InputError(
                    f"--map {explicit[key][0]}={column}: a {kind.name} sheet has no column {column}; "
                    f"its columns are {', '.join(c.name for c in kind.columns)}"
                )
            sources.setdefault(column, []).append(position)
            how[column] = MAPPED
        elif key in names:
            column = names[key]
            sources.setdefault(column, []).append(position)
            how.setdefault(column, NAME if key == header_key(column) else ALIAS)
        elif not key or key in _notes(kind):
            notes.append(position)
        elif key in result_keys and not results_file:
            # aXcelerate calls a unit's short outcome code (C, CNA) its STATUS.
            could_be = ("outcome",) if key == "status" and "outcome" in names.values() else ()
            questions.append((position, Question(header, could_be, results_name=True)))
        elif key in result_keys:
            notes.append(position)
        elif key in other:
            questions.append((position, Question(header, (), other_kind=other[key])))
        else:
            undecided.append(position)
    unused = [header for key, (header, _) in explicit.items() if key not in {header_key(h) for h in written}]
    if unused:
        raise InputError(
            f"--map {unused[0]}=...: {sheet.path.name} has no header {unused[0]!r}; its headers are "
            f"{', '.join(repr(h) for h in written if h)}"
        )
    for column, positions in sources.items():
        if len(positions) > 1:
            same = ", ".join(repr(written[i]) for i in positions)
            raise InputError(f"{sheet.path.name}: columns {same} all mean {column}; keep one")
    for position in undecided:
        header = written[position]
        choices = _likely(header_key(header), header, kind, names)
        if not choices or _settled_elsewhere(header, choices, kind, sources):
            notes.append(position)
        else:
            questions.append((position, Question(header, choices)))
    if questions:
        asked = [question for _, question in sorted(questions, key=lambda item: item[0])]
        raise HeaderQuestions(_question_message(sheet.path.name, kind, asked), asked)
    ordered = {column.name: sources[column.name][0] for column in kind.columns if column.name in sources}
    return HeaderMap(
        sources={column: sheet.headers[i] for column, i in ordered.items()},
        written={column: written[i] for column, i in ordered.items()},
        how={column: how[column] for column in ordered},
        notes=tuple(written[i] or f"column {i + 1} (no header)" for i in sorted(notes)),
    )


def _names(kind: Kind[Any]) -> dict[str, str]:
    """Header key -> column, for every name and alias of the kind's columns."""
    names: dict[str, str] = {}
    for column in kind.columns:
        for name in (column.name, *column.aliases):
            names.setdefault(header_key(name), column.name)
    return names


def _notes(kind: Kind[Any]) -> frozenset[str]:
    """Header keys that are notes by design for this kind: known non-columns and the results' own columns."""
    return frozenset(header_key(name) for name in (*EXPORT_NOTES, *KNOWN_NOTES, *kind.result_columns))


def _other_kinds(kind: Kind[Any]) -> dict[str, str]:
    """Header key -> the other kind, for names and aliases of columns only other kinds have."""
    from batchupdate.kinds import all_kinds

    own = set(_names(kind))
    other: dict[str, str] = {}
    for name, candidate in all_kinds().items():
        if name != kind.name:
            for key in _names(candidate):
                if key not in own:
                    other.setdefault(key, name)
    return other


def _words(header: str) -> list[str]:
    return [word.lower() for word in _WORDS.findall(header)]


def _likely(key: str, header: str, kind: Kind[Any], names: Mapping[str, str]) -> tuple[str, ...]:
    """The kind's columns a header looks like, in the kind's column order (none: it is a note)."""
    words = _words(header)
    suggested: set[str] = set(_BARE.get(key, ()))
    for signal, columns in _SIGNALS.items():
        if signal in words or (len(signal) >= _INSIDE_WORD and signal in key):
            suggested.update(columns)
    if suggested & {"start_date", "end_date"} and suggested >= {"start_date", "end_date"}:
        # "Completion Date": the specific word says which date; the plain "date" does not add the other.
        specific = {
            column
            for signal, columns in _SIGNALS.items()
            if signal in words and len(columns) == 1
            for column in columns
            if column in ("start_date", "end_date")
        }
        if len(specific) == 1:
            suggested -= {"start_date", "end_date"} - specific
    if len(key) >= _INSIDE_WORD:
        suggested.update(names[match] for match in difflib.get_close_matches(key, names, n=3, cutoff=_NEAR_MISS))
    return tuple(column.name for column in kind.columns if column.name in suggested)


def _settled_elsewhere(header: str, choices: Sequence[str], kind: Kind[Any], fed: Mapping[str, object]) -> bool:
    """A look-alike that is a note after all: every column it may be is fed by another header, and it either
    describes ("Outcome Comment") or could only be a column that identifies the record ("Class" beside
    "Class ID"), so no value the sheet asks for can be left out by keeping it as it is.
    """

    def settled(column: str) -> bool:
        if column in kind.changes:
            return column in fed
        groups = [group for group in kind.required if column in group] or [(column,)]
        return all(any(member in fed for member in group) for group in groups)

    if not all(map(settled, choices)):
        return False
    describes = any(word in _DESCRIBING for word in _words(header))
    return describes or not any(choice in kind.changes for choice in choices)


def _map_hint(header: str, column: str) -> str:
    value = f"{header}={column}"
    return f'--map "{value}"' if not set(value) & set('"$`\\!') else f"--map {shlex.quote(value)}"


def _question_message(sheet_name: str, kind: Kind[Any], questions: Sequence[Question]) -> str:
    """One line: each questioned header with its likely columns, then the --map that settles it."""
    if len(questions) == 1:
        question = questions[0]
        header = question.header
        if question.results_name:
            mapped = "".join(f", or {_map_hint(header, choice)} if it holds that" for choice in question.choices)
            return (
                f"{sheet_name}: column {question.header!r} has the name of a column batchupdate adds to its results "
                f"({', '.join(_RESULT_COLUMNS)}); rename it, e.g. to 'my {header}', or keep it as a note with "
                f"{_map_hint(header, NOTE)}{mapped}"
            )
        if question.other_kind:
            return (
                f"{sheet_name}: {question}, so it cannot be applied; remove the column, or keep it as a note with "
                f"{_map_hint(header, NOTE)} (or give --kind {question.other_kind} if the sheet is one)"
            )
        which = " or ".join(_map_hint(header, choice) for choice in question.choices)
        verb = (
            "if it holds that, rename the header or add" if len(question.choices) == 1 else "say which: rename it, or"
        )
        return (
            f"{sheet_name}: header {question} but is not one of the {kind.name} sheet's column names; "
            f"{verb} {which}; to keep it as it is, {_map_hint(header, NOTE)}"
        )
    first = next((q for q in questions if q.choices), questions[0])
    example = _map_hint(first.header, first.choices[-1] if first.choices else NOTE)
    return (
        f"{sheet_name}: {len(questions)} headers look like columns but are none of the {kind.name} sheet's column "
        f"names: {'; '.join(str(q) for q in questions)}; for each, rename it, say what it holds with --map "
        f"(e.g. {example}), or keep it as it is with {_map_hint(questions[-1].header, NOTE)}"
    )
