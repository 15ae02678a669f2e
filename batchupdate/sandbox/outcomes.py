"""Outcome (competency) codes accepted by PUT /course/enrolment, with the short code aXcelerate shows."""

# From the "Competency Codes" table in the reference page course-enrolment.json: the national set (NAT)
# and the state-only codes. A real tenant uses one state's subset; the sandbox accepts them all.
OUTCOME_SHORT_CODES: dict[int, str] = {
    0: "N.R.",
    20: "C",
    25: "C-GAP",
    30: "CNA",
    40: "W",
    41: "CLOS",
    50: "RPL-IP",
    51: "RPL-G",
    52: "RPL-NG",
    53: "RCC-G",
    54: "RCC-NG",
    60: "CT",
    61: "SUP",
    65: "C-GAP",
    66: "No Start",
    70: "CA",
    79: "WES",
    81: "NAS",
    82: "NAS",
    85: "NYS",
    90: "NYA",
    # WA RAPT. The reference table lists no 12-14, so the sandbox rejects those.
    1: "C",
    2: "NC",
    3: "NAS",
    4: "NAS",
    5: "P+E",
    6: "RPL-G",
    7: "RPL-NG",
    8: "CJOB",
    9: "CT",
    10: "W-FP",
    11: "W-P",
    15: "RCC-G",
    16: "RCC-NG",
    55: "P",
    100: "W-N",
    105: "NoSt",
}


def short_code(outcome_code: str | None) -> str:
    """The STATUS aXcelerate shows beside an OUTCOMECODE: "" when no outcome is set."""
    if outcome_code is None:
        return ""
    return OUTCOME_SHORT_CODES.get(int(outcome_code), "")
