"""Turn a stream of telephony events into a call log, one CSV row per finished call.

    rcstream listen -e telephony | python examples/calls_to_csv.py > calls.csv

Reads notification JSON lines on stdin (exactly what ``rcstream listen`` writes), follows
each telephony session through Setup/Proceeding/Answered/Disconnected, and writes a row
when the call ends. Lines that are not telephony events (or lifecycle records from
``--lifecycle``) are skipped. The header is written first, rows are flushed as they come.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from rcstream.models import TelephonySessionsNotification, parse_notification_json

FIELDS = ["session", "direction", "from", "to", "started", "answered", "ended", "seconds", "result"]


@dataclass
class Call:
    direction: str = ""
    from_: str = ""
    to: str = ""
    started: str = ""
    answered: str = ""


def _seconds(start: str, end: str) -> str:
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return ""
    return str(round(delta.total_seconds()))


def run(lines: TextIO, out: TextIO) -> int:
    """Read events from ``lines``, write the call log to ``out``; return rows written."""
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    out.flush()
    calls: dict[str, Call] = {}
    rows = 0
    for line in lines:
        if '"event"' not in line:
            continue  # a lifecycle record or a blank line
        event = parse_notification_json(line)
        if not isinstance(event, TelephonySessionsNotification):
            continue
        body = event.body
        session = body.telephony_session_id or body.session_id or event.uuid
        party = (body.parties or [None])[-1]
        if party is None or party.status is None:
            continue
        call = calls.setdefault(session, Call())
        when = body.event_time or event.timestamp
        call.started = call.started or when
        call.direction = str(party.direction or call.direction)
        if party.from_ is not None:
            call.from_ = party.from_.phone_number or call.from_
        if party.to is not None:
            call.to = party.to.phone_number or call.to
        status = str(party.status.code)
        if status == "Answered" and not call.answered:
            call.answered = when
        if status == "Disconnected":
            del calls[session]
            result = "answered" if call.answered else "missed"
            duration = _seconds(call.answered, when) if call.answered else "0"
            writer.writerow(
                [session, call.direction, call.from_, call.to, call.started,
                 call.answered, when, duration, result]
            )  # fmt: skip
            out.flush()
            rows += 1
    return rows


if __name__ == "__main__":
    run(sys.stdin, sys.stdout)
