"""Holds the published command schemas against what the ledger really decodes.

Usage: check_command_schemas.py LEDGER SCHEMAS_DIR SEEDS.jsonl

SEEDS holds one valid command of every type (JSON Lines). Each is mutated the ways an
integrating team's commands go wrong or differ (ids and times in other spellings, numbers at
and past their bounds, versions, missing and extra fields, wrong types), and every variant is
judged twice: by the `jsonschema` package (Draft 2020-12, formats checked) against
`SCHEMAS_DIR/commands/<type>.json`, and by `LEDGER validate --format json` (decodes, or says
`invalid`). A business rejection counts as decoded: the schemas describe shape, not rules.

Exit status 0 when the two agree on every variant; otherwise each disagreement is printed
with both verdicts, and the status is 1.
"""

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from jsonschema import Draft202012Validator

UUID = "0185fbd6-a099-58df-8b5a-31a9370ebf6c"


def variants(command):
    """(name, command) pairs: the seed and its mutations."""
    yield "as is", command
    for name, value in [
        ("urn uuid", f"urn:uuid:{UUID}"),
        ("braced uuid", "{" + UUID + "}"),
        ("uuid without hyphens", UUID.replace("-", "")),
        ("upper-case uuid", UUID.upper()),
        ("not a uuid", "order-1"),
    ]:
        yield f"command_id {name}", with_field(command, ["command_id"], value)
    for name, value in [
        ("space for T", "2026-11-22 10:00:00Z"),
        ("lower-case t and z", "2026-11-22t10:00:00z"),
        ("offset", "2026-11-22T11:00:00+01:00"),
        ("no offset", "2026-11-22T10:00:00"),
        ("fraction", "2026-11-22T10:00:00.123456Z"),
        ("date only", "2026-11-22"),
    ]:
        yield f"issued_at {name}", with_field(command, ["issued_at"], value)
    version = command.get("schema_version", 1)
    for name, value in [("missing", None), ("0", 0), ("next", version + 1), ("as text", "1")]:
        yield f"schema_version {name}", with_field(command, ["schema_version"], value)
    if version > 1:
        yield "schema_version 1", with_field(command, ["schema_version"], 1)
    yield "extra field", with_field(command, ["unexpected"], 1)
    yield "extra payload field", with_field(command, ["payload", "unexpected"], 1)
    for path, value in leaves(command["payload"], ["payload"]):
        where = ".".join(str(p) for p in path[1:])
        yield f"{where} missing", with_field(command, path, None)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            for name, number in [
                ("-1", -1),
                ("2^16", 2**16),
                ("2^32 - 1", 2**32 - 1),
                ("2^32", 2**32),
                ("2^63", 2**63),
                ("2^64", 2**64),
                ("x.0", float(value)),
                ("x.5", value + 0.5),
                ("as text", str(value)),
            ]:
                yield f"{where} {name}", with_field(command, path, number)
        elif isinstance(value, str):
            yield f"{where} as a number", with_field(command, path, 7)
            if looks_like_uuid(value):
                for name, text in [
                    ("urn", f"urn:uuid:{value}"),
                    ("braced", "{" + value + "}"),
                    ("without hyphens", value.replace("-", "")),
                ]:
                    yield f"{where} {name}", with_field(command, path, text)
            if looks_like_time(value):
                for name, text in [
                    ("space for T", value.replace("T", " ")),
                    ("no offset", value.rstrip("Z")),
                    ("date only", value[:10]),
                ]:
                    yield f"{where} {name}", with_field(command, path, text)
            if looks_like_amount(value):
                for name, text in [
                    ("40 digits", "1" * 40),
                    ("3 decimals", "1.234"),
                    ("negative", "-1.00"),
                    ("exponent", "1e3"),
                    ("leading +", "+1.00"),
                    ("no integer part", ".50"),
                ]:
                    yield f"{where} {name}", with_field(command, path, text)


def looks_like_uuid(text):
    return len(text) == 36 and text.count("-") == 4


def looks_like_time(text):
    return len(text) >= 20 and text[4] == "-" and text[10] == "T" and text.endswith("Z")


def looks_like_amount(text):
    return text.replace(".", "", 1).isdigit() and "." in text


def leaves(value, path):
    """Paths to every scalar under `value` (lists: their first element only)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, path + [key])
    elif isinstance(value, list):
        if value:
            yield from leaves(value[0], path + [0])
    else:
        yield path, value


def with_field(command, path, value):
    """A copy of `command` with the field at `path` set (removed when `value` is None)."""
    changed = copy.deepcopy(command)
    target = changed
    for step in path[:-1]:
        target = target[step]
    if value is None:
        if isinstance(target, dict):
            target.pop(path[-1], None)
        return changed
    target[path[-1]] = value
    return changed


def ledger_verdicts(ledger, commands):
    """Per command: None when the ledger decoded it, else its reason."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as file:
        for command in commands:
            file.write(json.dumps(command) + "\n")
        file.flush()
        run = subprocess.run(
            [ledger, "validate", "--format", "json", file.name],
            capture_output=True,
            text=True,
        )
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    if len(answers) != len(commands):
        sys.exit(f"ledger validate answered {len(answers)} of {len(commands)}: {run.stderr}")
    return [a.get("reason", "invalid") if a["outcome"] == "invalid" else None for a in answers]


def main(ledger, schemas, seeds):
    checker = Draft202012Validator.FORMAT_CHECKER
    if checker.conforms("2026-11-22 10:00:00Z", "date-time"):
        sys.exit("jsonschema checks no date-time format here: install rfc3339-validator")
    schemas = Path(schemas)
    validators = {}
    cases = []
    for line in Path(seeds).read_text().splitlines():
        seed = json.loads(line)
        kind = seed["type"]
        if kind not in validators:
            schema = json.loads((schemas / "commands" / f"{kind}.json").read_text())
            validators[kind] = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        cases.extend((kind, name, variant) for name, variant in variants(seed))
    published = {p.stem for p in (schemas / "commands").glob("*.json")}
    missing = sorted(published - set(validators))
    if missing:
        sys.exit(f"no seed command of these published types: {', '.join(missing)}")
    verdicts = ledger_verdicts(ledger, [variant for _, _, variant in cases])
    disagreements = 0
    for (kind, name, variant), refused in zip(cases, verdicts):
        errors = list(validators[kind].iter_errors(variant))
        schema_valid = not errors
        if schema_valid == (refused is None):
            continue
        disagreements += 1
        if schema_valid:
            print(f"{kind} / {name}: schema-valid, but the ledger refuses it: {refused}")
        else:
            print(f"{kind} / {name}: the ledger decodes it, but the schema refuses it: {errors[0].message}")
    print(f"{len(cases)} commands of {len(validators)} types, {disagreements} disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
