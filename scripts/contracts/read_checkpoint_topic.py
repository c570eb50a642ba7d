"""Reads the checkpoints a ledger serve published to Kafka, as a witness in another language
would, and checks each with the deployment's public key (verify_history.py's checks).

Usage: read_checkpoint_topic.py BOOTSTRAP TOPIC PUBLIC_KEY

With the `confluent-kafka` client from the earliest offset to the end: every record keyed
`checkpoint` is a checkpoint (docs/verifiable-history.md) signed by PUBLIC_KEY whose root is
the root of its partition heads, and each covers at least as many records in every partition
as the one before it. Prints the last one's root and record count. Exit status 0 when there is
at least one and all pass.
"""

import json
import sys

from read_event_topic import records
from verify_history import Invalid, check_checkpoint


def main():
    bootstrap, topic, public_key = sys.argv[1:4]
    key = bytes.fromhex(public_key)
    previous, count = None, 0
    for message in records(bootstrap, topic):
        if message.key() != b"checkpoint":
            raise SystemExit(f"offset {message.offset()}: key {message.key()!r}")
        checkpoint = json.loads(message.value())
        try:
            check_checkpoint(checkpoint, key)
        except Invalid as error:
            raise SystemExit(f"offset {message.offset()}: {error}")
        sizes = [head["size"] for head in checkpoint["partitions"]]
        if previous is not None and any(a < b for a, b in zip(sizes, previous)):
            raise SystemExit(f"offset {message.offset()}: a partition shrank: {previous} -> {sizes}")
        previous, count = sizes, count + 1
        last = checkpoint
    if count == 0:
        raise SystemExit("no checkpoints in the topic")
    print(f"{count} checkpoints; the last: root {last['root']} over {sum(previous)} records")


if __name__ == "__main__":
    main()
