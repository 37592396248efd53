#!/usr/bin/env python3
"""Checks an audit trail export (GET /audit.jsonl) outside the app, with Python alone.

Each line is one event, oldest first. Its hash is SHA-256 over its `prev_hash`, a newline,
and the line's JSON object without `prev_hash` and `hash` (keys in the order given, no
spaces, UTF-8). Consecutive events (seq n, n + 1) must link: the later one's `prev_hash` is
the earlier one's `hash`. Compare the first `prev_hash` with the last hash of an earlier
export you kept to check the part between them.

    python3 deploy/verify-audit-export.py audit-trail.jsonl

Exit 0 when every line checks out, 1 naming the first line that does not.
"""

import hashlib
import json
import sys


def verify(path):
    previous = None  # (seq, hash) of the line before
    count = 0
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            event = json.loads(line)
            prev_hash, stored = event.pop("prev_hash"), event.pop("hash")
            canonical = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256(f"{prev_hash}\n{canonical}".encode("utf-8")).hexdigest()
            if digest != stored:
                return f"line {number} (event {event['seq']}): its content does not match its hash"
            if previous is not None and event["seq"] == previous[0] + 1 and prev_hash != previous[1]:
                return f"line {number} (event {event['seq']}): it does not follow the line before"
            if previous is not None and event["seq"] <= previous[0]:
                return f"line {number} (event {event['seq']}): out of order"
            if count == 0:
                print(f"first event {event['seq']} follows {prev_hash}")
            previous = (event["seq"], stored)
            count += 1
    if previous is None:
        print("no event")
    else:
        print(f"{count} events check out; the last, event {previous[0]}, has the hash {previous[1]}")
    return None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    problem = verify(sys.argv[1])
    if problem:
        print(f"BROKEN: {problem}", file=sys.stderr)
        sys.exit(1)
