"""Outcome codes for a unit's `competent` field: the national set plus state codes.

Short codes map to national numbers; WA RAPT numbers (1-16, 55, 100, 105) are accepted as numbers only,
because their short codes (C, RPL-G...) collide with the national ones.
"""

from __future__ import annotations

import re

from batchupdate.cells import CellError, check_digits, clean_text

_NUMBER = re.compile(r"[0-9]+(?:\.0+)?")  # not \d, which takes any script's digits

# code: (short code, meaning); national (NAT) first, then state-only codes.
OUTCOMES: dict[int, tuple[str, str]] = {
    0: ("N.R.", "not reported for AVETMISS"),
    20: ("C", "competency achieved / pass"),
    30: ("CNA", "competency not achieved / fail"),
    40: ("W", "withdrawn / discontinued"),
    41: ("CLOS", "incomplete due to RTO closure"),
    51: ("RPL-G", "recognition of prior learning granted"),
    52: ("RPL-NG", "recognition of prior learning not granted"),
    60: ("CT", "credit transfer / national recognition"),
    61: ("SUP", "superseded subject"),
    70: ("CA", "continuing activity"),
    81: ("NAS", "non-assessable, satisfactorily completed"),
    82: ("NAS", "non-assessable, withdrawn or not satisfactorily completed"),
    85: ("NYS", "not yet started"),
    90: ("NYA", "not yet available (deprecated)"),
    25: ("C-GAP", "competency achieved via gap training (VIC)"),
    50: ("RPL-IP", "recognition of prior learning in progress (VIC)"),
    53: ("RCC-G", "recognition of current competency granted (VIC)"),
    54: ("RCC-NG", "recognition of current competency not granted (VIC)"),
    79: ("WES", "waiting employer sign-off (VIC)"),
    65: ("C-GAP", "gap training, superseded qualification (QLD)"),
    66: ("NO START", "did not start (NSW)"),
}
WA_RAPT_CODES = frozenset({*range(1, 17), 55, 100, 105})
KNOWN_CODES = frozenset(OUTCOMES) | WA_RAPT_CODES


def _short_code_table() -> dict[str, tuple[int, ...]]:
    table: dict[str, list[int]] = {}
    for code, (short, _meaning) in OUTCOMES.items():
        table.setdefault(short, []).append(code)
    return {short: tuple(sorted(codes)) for short, codes in table.items()}


SHORT_CODES = _short_code_table()
SHORT_CODES["NR"] = SHORT_CODES["N.R."]


def parse_outcome(cell: object) -> int | None:
    """An outcome as its number: '20', 20, 'C', ' rpl-g ' all work; an ambiguous short code does not."""
    text = clean_text(cell)
    if not text:
        return None
    check_digits(text)
    if _NUMBER.fullmatch(text):
        whole = text.split(".")[0]
        number = int(whole) if len(whole) <= 4 else -1  # no outcome code has more than 3 digits
        if number not in KNOWN_CODES:
            raise CellError("is not an outcome code; use a number such as 20 or a short code such as C, CNA, RPL-G")
        return number
    codes = SHORT_CODES.get(" ".join(text.upper().split()))
    if codes is None:
        raise CellError("is not an outcome code; use a number such as 20 or a short code such as C, CNA, RPL-G")
    if len(codes) > 1:
        options = " or ".join(f"{code} ({OUTCOMES[code][1]})" for code in codes)
        raise CellError(f"is ambiguous: it means {options}; write the number instead")
    return codes[0]


def short_code(code: int | str | None) -> str:
    """The short code shown beside a number in messages ('20' -> 'C'), '' when unknown."""
    try:
        return OUTCOMES.get(int(str(code)), ("", ""))[0]
    except ValueError:
        return ""
