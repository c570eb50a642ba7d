"""Validates `replay export --format jsonl` output against the published event schemas.

Usage: check_exported_events.py SCHEMAS_DIR [--hashes] < export.jsonl

Each line is checked with the `jsonschema` package (Draft 2020-12, formats checked) against
`SCHEMAS_DIR/events/<type>.json`. With `--hashes` (a log written with
`[log] event_format = "json"`), each event's hash is also checked: SHA-256 over
b"order-ledger/event-json/v1\0" and the event without hash, partition and offset as
json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) writes it. Exit status 0
when every event passes; otherwise each failing line is printed with the first reason, and the
status is 1.
"""

import hashlib
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator


def canonical_hash(event):
    body = {k: v for k, v in event.items() if k not in ("hash", "partition", "offset")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"order-ledger/event-json/v1\0" + text.encode("utf-8")).hexdigest()


def main(schemas, *options):
    hashes = "--hashes" in options
    checker = Draft202012Validator.FORMAT_CHECKER
    if checker.conforms("2026-11-22 10:00:00Z", "date-time"):
        sys.exit("jsonschema checks no date-time format here: install rfc3339-validator")
    validators = {}
    events = invalid = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        event = json.loads(line)
        kind = event.get("type")
        if kind not in validators:
            path = Path(schemas) / "events" / f"{kind}.json"
            if not path.exists():
                print(f"line {number}: no published schema for event type {kind!r}")
                invalid += 1
                continue
            schema = json.loads(path.read_text())
            validators[kind] = Draft202012Validator(schema, format_checker=checker)
        events += 1
        errors = [error.message for error in validators[kind].iter_errors(event)]
        if hashes and canonical_hash(event) != event["hash"]:
            errors.append("the hash is not SHA-256 of the canonical form")
        if errors:
            invalid += 1
            print(f"line {number} ({kind}): {errors[0]}")
    print(f"{events} events of {len(validators)} types, {invalid} invalid")
    return 1 if invalid or not events else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
