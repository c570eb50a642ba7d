"""The published OpenAPI document, checked as an integrating team would check it.

Usage: check_openapi.py BASE_URL TOKEN [MAX_EXAMPLES]

1. `openapi-spec-validator` validates the document served at BASE_URL/v1/openapi.json.
2. `schemathesis` runs every check against the live serve with an admin TOKEN: no 5xx, no
   answer off its documented status, content type, headers or schema, no schema-valid request
   refused, no invalid one accepted, and 401 without the token. The run is bounded
   (MAX_EXAMPLES cases per operation, default 25) and seeded, so CI repeats it exactly.

Exit status 0 when both pass; otherwise what failed is printed.
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import urllib.request

from openapi_spec_validator import validate

HERE = pathlib.Path(__file__).resolve().parent


def fetch(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def main():
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    examples = sys.argv[3] if len(sys.argv) > 3 else "25"
    document = fetch(f"{base}/v1/openapi.json", token)
    validate(document)
    print(f"openapi-spec-validator: valid ({len(document['paths'])} paths)")
    st = pathlib.Path(sys.executable).with_name("st")
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as scratch:
        run = subprocess.run(
            [
                str(st), "--config-file", str(HERE / "schemathesis.toml"), "--no-color",
                "run", f"{base}/v1/openapi.json",
                "--header", f"Authorization: Bearer {token}",
                "--max-examples", examples,
                "--seed", "20261203",
                "--request-timeout", "30",
            ],
            capture_output=True,
            text=True,
            # schemathesis keeps a cache of past failures where it runs: a fresh directory makes
            # every run the same seeded run.
            cwd=scratch,
        )
    print(run.stdout[-20000:], run.stderr[-5000:], sep="\n")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
