"""The plain way, as one would write it by hand: for each row, GET the student's enrolment, find the unit, PUT it.

bench/run.py runs this on a sample of a units sheet to compare with batchupdate. It reads the connection
from AXCELERATE_URL, AXCELERATE_API_TOKEN and AXCELERATE_WS_TOKEN, sends one request at a time, waits out
a 429's Retry-After, and prints one JSON line: rows done, requests sent, seconds.

    python bench/sequential.py SHEET.csv --rows 200
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sheet", type=Path, help="a units sheet: contact_id, class_id, unit_code, outcome, dates")
    parser.add_argument("--rows", type=int, default=0, help="a sample of this many rows spread over the sheet")
    arguments = parser.parse_args()
    with arguments.sheet.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    if arguments.rows:
        rows = rows[:: max(1, len(rows) // arguments.rows)][: arguments.rows]
    headers = {"apitoken": os.environ["AXCELERATE_API_TOKEN"], "wstoken": os.environ["AXCELERATE_WS_TOKEN"]}
    counter = {"requests": 0, "throttled": 0}
    with httpx.Client(base_url=os.environ["AXCELERATE_URL"], headers=headers, timeout=30) as client:
        started = time.perf_counter()
        for row in rows:
            update_row(client, row, counter)
        seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(rows), "seconds": seconds, **counter}))


def update_row(client: httpx.Client, row: dict[str, str], counter: dict[str, int]) -> None:
    query = {"contactID": row["contact_id"], "instanceID": row["class_id"], "type": "p"}
    enrolments = send(client, counter, "GET", "/course/enrolments", params=query)
    unit = next(
        activity
        for enrolment in enrolments
        for activity in enrolment["ACTIVITIES"]
        if activity["TYPE"] == "s" and activity["CODE"] == row["unit_code"]
    )
    form = {"contactID": row["contact_id"], "instanceID": unit["ID"], "programInstanceID": row["class_id"], "type": "s"}
    if row["outcome"]:
        form["competent"] = row["outcome"]
    if row["start_date"]:
        form["activityStartDate"] = iso_date(row["start_date"])
    if row["end_date"]:
        form["activityEndDate"] = iso_date(row["end_date"])
    send(client, counter, "PUT", "/course/enrolment", data=form)


def send(client: httpx.Client, counter: dict[str, int], method: str, path: str, **options: Any) -> Any:
    while True:
        counter["requests"] += 1
        response = client.request(method, path, **options)
        if response.status_code == 429:
            counter["throttled"] += 1
            time.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        response.raise_for_status()
        return response.json()


def iso_date(text: str) -> str:
    return datetime.strptime(text, "%d/%m/%Y").date().isoformat()


if __name__ == "__main__":
    main()
