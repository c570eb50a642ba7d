"""Checks a `GET /metrics` answer the way a Prometheus server and a dashboard meet it.

Reads the text on stdin and parses it with the official Python client's parser (not ours).
Exit status 0 when every check holds; otherwise each failure is printed and the status is 1.

Checks:
- every family has a `# HELP` text and a type;
- no summaries: latencies are histograms, whose buckets can be summed across instances;
- every histogram has cumulative buckets ending in `+Inf`, equal to its `_count`;
- the families a dashboard needs are there, with the labels it groups by (given as
  arguments, `family:label,label`).
"""

import sys

from prometheus_client.parser import text_string_to_metric_families


def main(required):
    text = sys.stdin.read()
    problems = []
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for name, family in families.items():
        if not family.documentation.strip():
            problems.append(f"{name}: no # HELP text")
        if family.type in ("summary", "untyped", "unknown"):
            problems.append(f"{name}: type {family.type}; expected counter, gauge or histogram")
        if family.type == "histogram":
            problems.extend(check_histogram(family))
    for spec in required:
        name, _, labels = spec.partition(":")
        # The parser names a counter's family without its `_total` suffix.
        family = families.get(name) or families.get(name.removesuffix("_total"))
        if family is None:
            problems.append(f"{name}: missing (families: {', '.join(sorted(families))})")
            continue
        wanted = {label for label in labels.split(",") if label}
        if not any(wanted <= set(sample.labels) for sample in family.samples):
            problems.append(f"{name}: no sample with labels {sorted(wanted)}")
    for problem in problems:
        print(problem)
    print(f"{len(families)} families checked, {len(problems)} problems")
    return 1 if problems else 0


def check_histogram(family):
    """Buckets cumulative and ending in +Inf at the count, for each label set."""
    series = {}
    for sample in family.samples:
        labels = {k: v for k, v in sample.labels.items() if k != "le"}
        key = tuple(sorted(labels.items()))
        entry = series.setdefault(key, {"buckets": [], "count": None})
        if sample.name.endswith("_bucket"):
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            entry["count"] = sample.value
    for key, entry in series.items():
        buckets = sorted(entry["buckets"])
        where = f"{family.name}{dict(key)}"
        if not buckets or buckets[-1][0] != float("inf"):
            yield f"{where}: no +Inf bucket"
            continue
        counts = [count for _, count in buckets]
        if counts != sorted(counts):
            yield f"{where}: buckets are not cumulative"
        if entry["count"] is not None and counts[-1] != entry["count"]:
            yield f"{where}: +Inf bucket {counts[-1]} != count {entry['count']}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
