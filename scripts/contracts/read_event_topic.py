"""Reads a ledger's events topic the way a consumer in another language would, and checks it.

Usage: read_event_topic.py BOOTSTRAP TOPIC SCHEMAS_DIR

With the `confluent-kafka` client (librdkafka, as Python services use it), from the earliest
offset of every partition to its end, isolation level read_committed. Every record must be a
JSON event record (`[log] event_format = "json"`, described in contracts/asyncapi.json):

- headers `content-type: application/json`, `message-type` the event's type, `schema-version`
  its version; key the aggregate id;
- the hash: SHA-256 over b"order-ledger/event-json/v1\\0" and the canonical form, i.e. the
  object without "hash" as json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False) writes it, equals the record's "hash";
- the chain: per aggregate, sequences 1, 2, 3... and each prev_hash the hash before it (64
  zeros for the first);
- the event is valid against SCHEMAS_DIR/events/<type>.json (jsonschema, formats checked).

Exit status 0 when every record passes and there is at least one; otherwise what failed.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ledger_events import Schemas, canonical_hash

GENESIS = "0" * 64


def records(bootstrap, topic):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "python-event-reader",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,
    })
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = {}
    assignment = []
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        if high > low:
            ends[p] = high
            assignment.append(TopicPartition(topic, p, low))
    consumer.assign(assignment)
    # The last offsets of a partition written in transactions are commit markers, which a
    # consumer never receives: a partition is read when the consumer's position reaches its end.
    deadline = time.monotonic() + 60
    while True:
        message = consumer.poll(1)
        if message is not None:
            if message.error():
                raise KafkaException(message.error())
            yield message
        positions = consumer.position([TopicPartition(topic, p) for p in ends])
        if all(tp.offset >= ends[tp.partition] for tp in positions):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"not at the end within 60 s: {positions} of {ends}")
    consumer.close()


def check(message, schemas, heads):
    headers = {name: value.decode() for name, value in (message.headers() or [])}
    event = json.loads(message.value())
    kind = event["type"]
    problems = []
    expected = {"content-type": "application/json", "message-type": kind,
                "schema-version": str(event["schema_version"])}
    for name, value in expected.items():
        if headers.get(name) != value:
            problems.append(f"header {name} is {headers.get(name)!r}, not {value!r}")
    if message.key().decode() != event["aggregate_id"]:
        problems.append(f"key {message.key()!r} is not the aggregate id")
    if canonical_hash(event) != event["hash"]:
        problems.append("the hash is not SHA-256 of the canonical form")
    aggregate = (event["aggregate_kind"], event["aggregate_id"])
    sequence, previous = heads.get(aggregate, (0, GENESIS))
    if (event["sequence"], event["prev_hash"]) != (sequence + 1, previous):
        problems.append(f"breaks the chain of {aggregate} after sequence {sequence}")
    heads[aggregate] = (event["sequence"], event["hash"])
    return problems + schemas.problems(event)[:1]


def main(bootstrap, topic, schemas):
    schemas, heads = Schemas(schemas), {}
    count = failed = 0
    for message in records(bootstrap, topic):
        count += 1
        problems = check(message, schemas, heads)
        if problems:
            failed += 1
            print(f"{topic}/{message.partition()}/{message.offset()}: {'; '.join(problems)}")
    print(f"{count} events of {len(schemas.validators)} types on {len(heads)} aggregates read from {topic}; {failed} failed")
    return 1 if failed or not count else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
