"""What the contract checks know about events: their published schemas and their JSON hash.

The hash of an event in JSON (a JSON event record, or an exported event) is SHA-256 over
b"order-ledger/event-json/v1\\0" and the event without "hash" (and an export's "partition" and
"offset") as json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) writes it.
"""

import hashlib
import json
from pathlib import Path

from jsonschema import Draft202012Validator

HASH_TAG = b"order-ledger/event-json/v1\0"
NOT_HASHED = ("hash", "partition", "offset")


def canonical_hash(event):
    body = {name: value for name, value in event.items() if name not in NOT_HASHED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(HASH_TAG + text.encode("utf-8")).hexdigest()


class Schemas:
    """The event schemas under a `schemas/` directory, each loaded once, formats checked."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.validators = {}
        checker = Draft202012Validator.FORMAT_CHECKER
        if checker.conforms("2026-11-22 10:00:00Z", "date-time"):
            raise SystemExit("jsonschema checks no date-time format here: install rfc3339-validator")
        self.checker = checker

    def problems(self, event):
        """Why `event` is not valid against its type's schema (empty when it is)."""
        kind = event.get("type")
        if kind not in self.validators:
            path = self.directory / "events" / f"{kind}.json"
            if not path.exists():
                return [f"no published schema for event type {kind!r}"]
            schema = json.loads(path.read_text())
            self.validators[kind] = Draft202012Validator(schema, format_checker=self.checker)
        return [error.message for error in self.validators[kind].iter_errors(event)]
