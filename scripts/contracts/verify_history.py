"""An independent verifier of order-ledger's checkpoints and proofs, written from
docs/verifiable-history.md and RFC 9162 alone (it shares no code with the ledger).

    verify_history.py checkpoint FILE --public-key HEX
    verify_history.py proof FILE [--checkpoint FILE] [--public-key HEX]
    verify_history.py consistency FILE [--old FILE] [--public-key HEX]

Exit status 0 when the document holds against what is trusted, 1 with the reason when not.
"""

import argparse
import hashlib
import json
import sys
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger_events import canonical_hash

CHECKPOINT = "order-ledger/checkpoint/v1"
PROOF = "order-ledger/proof/v2"
CONSISTENCY = "order-ledger/consistency/v1"


class Invalid(Exception):
    pass


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def tree_root(leaves):
    """MTH(D[n]) of RFC 9162 §2.1.1 over leaf hashes."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def digest(text, what):
    try:
        value = bytes.fromhex(text)
    except (TypeError, ValueError):
        raise Invalid(f"{what} is not hex")
    if len(value) != 32:
        raise Invalid(f"{what} is not 32 bytes")
    return value


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        raise Invalid(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Invalid("the inclusion path is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("the inclusion path is too short")
    if r != root:
        raise Invalid("the inclusion path leads to another root")


def verify_consistency(first, second, first_hash, second_hash, path):
    """RFC 9162 §2.1.4.2 (equal sizes: equal roots and an empty proof)."""
    if first == 0 or first > second:
        raise Invalid(f"a tree of {first} is not extended by one of {second}")
    if first == second:
        if path or first_hash != second_hash:
            raise Invalid("equal sizes with different roots or a non-empty proof")
        return
    if not path:
        raise Invalid("an empty consistency proof")
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Invalid("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_hash or sr != second_hash:
        raise Invalid("the consistency proof does not lead to both roots")


def head_leaf(head):
    data = (
        head["partition"].to_bytes(4, "big")
        + head["size"].to_bytes(8, "big")
        + digest(head["root"], f"partition {head['partition']}'s root")
    )
    return leaf_hash(data)


def check_heads(checkpoint):
    """The checkpoint's root is the tree root over its partition heads, 0, 1, 2, … in order."""
    if checkpoint.get("format") != CHECKPOINT:
        raise Invalid(f"not a checkpoint of format {CHECKPOINT}")
    heads = checkpoint["partitions"]
    if [h["partition"] for h in heads] != list(range(len(heads))):
        raise Invalid("the heads are not partitions 0, 1, 2, … in order")
    if tree_root([head_leaf(h) for h in heads]).hex() != checkpoint["root"]:
        raise Invalid("the root is not the root of the partition heads")


def check_signature(root, signature, public_key):
    """Ed25519 over the text: format, key id, time (RFC 3339, seconds, Z), root; one per line."""
    if signature is None:
        raise Invalid("the checkpoint is not signed")
    key_id = hashlib.sha256(public_key).hexdigest()[:16]
    if signature["key_id"] != key_id:
        raise Invalid(f"signed with key {signature['key_id']}, not the trusted {key_id}")
    at = datetime.fromisoformat(signature["signed_at"].replace("Z", "+00:00"))
    time = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = f"{CHECKPOINT}\nkey {key_id}\ntime {time}\nroot {root}\n".encode()
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            bytes.fromhex(signature["signature"]), message
        )
    except InvalidSignature:
        raise Invalid("the signature does not hold")


def check_checkpoint(checkpoint, public_key):
    check_heads(checkpoint)
    if public_key is not None:
        check_signature(checkpoint["root"], checkpoint.get("signature"), public_key)
    records = sum(h["size"] for h in checkpoint["partitions"])
    return f"checkpoint with root {checkpoint['root']} over {records} records"


def what_the_record_says(record, event_id):
    """A JSON event record is read and its hash checked; a binary one is only counted."""
    if not record.startswith(b"{"):
        return f"a binary (bincode) record of {len(record)} bytes"
    event = json.loads(record)
    if event.get("event_id") != event_id:
        raise Invalid(f"the record is event {event.get('event_id')}, not {event_id}")
    if canonical_hash(event) != event["hash"]:
        raise Invalid("the JSON record does not hash to its hash")
    return f"{event['type']} of {event['aggregate_kind']} {event['aggregate_id']}"


def check_proof(proof, trusted, public_key):
    if proof.get("format") != PROOF:
        raise Invalid(f"not a proof of format {PROOF}")
    record = bytes.fromhex(proof["record"])
    head = proof["head"]
    if head["partition"] != proof["partition"]:
        raise Invalid("the head is another partition's")
    path = [digest(p, "a path hash") for p in proof["path"]]
    verify_inclusion(
        leaf_hash(record), proof["index"], head["size"], path, digest(head["root"], "head root")
    )
    heads_path = [digest(p, "a heads path hash") for p in proof["heads_path"]]
    root = digest(proof["root"], "the root")
    verify_inclusion(head_leaf(head), head["partition"], proof["partitions"], heads_path, root)
    signature = proof.get("signature")
    if trusted is not None:
        check_heads(trusted)
        if trusted["root"] != proof["root"] or trusted["partitions"][head["partition"]] != head:
            raise Invalid("the proof is against another checkpoint than the trusted one")
        signature = trusted.get("signature")
    if public_key is not None:
        check_signature(proof["root"], signature, public_key)
    said = what_the_record_says(record, proof["event_id"])
    return f"event {proof['event_id']} ({said}) is in the log with root {proof['root']}"


def check_consistency(proof, trusted_old, public_key):
    if proof.get("format") != CONSISTENCY:
        raise Invalid(f"not a consistency proof of format {CONSISTENCY}")
    old, new = proof["old"], proof["new"]
    check_heads(old)
    check_checkpoint(new, public_key)
    if trusted_old is not None and trusted_old["root"] != old["root"]:
        raise Invalid("the proof starts from another checkpoint than the kept one")
    if len(proof["partitions"]) != len(old["partitions"]):
        raise Invalid("not one proof per partition of the old checkpoint")
    for before, step in zip(old["partitions"], proof["partitions"]):
        number = before["partition"]
        if number >= len(new["partitions"]):
            raise Invalid(f"partition {number} is gone")
        after = new["partitions"][number]
        sizes = (step["partition"], step["old_size"], step["new_size"])
        if sizes != (number, before["size"], after["size"]):
            raise Invalid(f"partition {number}: the proof's sizes are not the checkpoints'")
        if before["size"] == 0:
            continue
        verify_consistency(
            before["size"],
            after["size"],
            digest(before["root"], "old root"),
            digest(after["root"], "new root"),
            [digest(c, "a proof hash") for c in step["path"]],
        )
    return f"the log with root {new['root']} extends the one with root {old['root']}"


def load(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["checkpoint", "proof", "consistency"])
    parser.add_argument("file")
    parser.add_argument("--public-key")
    parser.add_argument("--checkpoint", help="the trusted checkpoint (proof)")
    parser.add_argument("--old", help="the kept old checkpoint (consistency)")
    args = parser.parse_args()
    key = bytes.fromhex(args.public_key) if args.public_key else None
    document = load(args.file)
    try:
        if args.kind == "checkpoint":
            if key is None:
                raise Invalid("a checkpoint is checked against a --public-key")
            said = check_checkpoint(document, key)
        elif args.kind == "proof":
            trusted = load(args.checkpoint) if args.checkpoint else None
            said = check_proof(document, trusted, key)
        else:
            old = load(args.old) if args.old else None
            said = check_consistency(document, old, key)
    except (Invalid, KeyError, TypeError, ValueError) as error:
        print(f"INVALID: {error}")
        return 1
    print(f"valid: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
