"""Reads the notifications a ledger serve published to Kafka, as a customer-messaging service in
another language would, and checks each against the published schema.

Usage: read_notification_topic.py BOOTSTRAP TOPIC SCHEMA_FILE

With the `confluent-kafka` client from the earliest offset to the end: every record's value is a
notification valid against SCHEMA_FILE (schemas/notifications/Notification.json; jsonschema,
Draft 2020-12, formats checked) and keyed by its `notification_id`; no id comes twice. Prints
the kinds read, sorted, as a JSON list. Exit status 0 when all pass.
"""

import json
import sys

from jsonschema import Draft202012Validator, FormatChecker

from read_event_topic import records


def main():
    bootstrap, topic, schema_file = sys.argv[1:4]
    with open(schema_file, encoding="utf-8") as file:
        validator = Draft202012Validator(json.load(file), format_checker=FormatChecker())
    seen, kinds = set(), []
    for message in records(bootstrap, topic):
        notification = json.loads(message.value())
        errors = sorted(validator.iter_errors(notification), key=str)
        if errors:
            raise SystemExit(f"offset {message.offset()}: {errors[0].message}")
        if message.key() != notification["notification_id"].encode():
            raise SystemExit(f"offset {message.offset()}: key {message.key()!r}")
        if notification["notification_id"] in seen:
            raise SystemExit(f"offset {message.offset()}: notification read twice")
        seen.add(notification["notification_id"])
        kinds.append(notification["kind"])
    print(json.dumps(sorted(kinds)))


if __name__ == "__main__":
    main()
