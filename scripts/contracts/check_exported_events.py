"""Validates `replay export --format jsonl` output against the published event schemas.

Usage: check_exported_events.py SCHEMAS_DIR [--hashes] < export.jsonl

Each line is checked with the `jsonschema` package (Draft 2020-12, formats checked) against
`SCHEMAS_DIR/events/<type>.json`. With `--hashes` (a log written with
`[log] event_format = "json"`), each event's hash is also checked against its canonical form
(see ledger_events.py). Exit status 0 when every event passes; otherwise each failing line is
printed with the first reason, and the status is 1.
"""

import json
import sys

from ledger_events import Schemas, canonical_hash


def main(schemas, *options):
    hashes = "--hashes" in options
    schemas = Schemas(schemas)
    events = invalid = 0
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        event = json.loads(line)
        events += 1
        errors = schemas.problems(event)
        if hashes and canonical_hash(event) != event["hash"]:
            errors.append("the hash is not SHA-256 of the canonical form")
        if errors:
            invalid += 1
            print(f"line {number} ({event.get('type')}): {errors[0]}")
    print(f"{events} events of {len(schemas.validators)} types, {invalid} invalid")
    return 1 if invalid or not events else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
