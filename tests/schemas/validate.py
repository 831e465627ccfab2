#!/usr/bin/python3
"""validate.py: checks messages against retentiond's JSON Schemas (docs/schemas).

Usage (Debian's python3-jsonschema, run with /usr/bin/python3):

  validate.py check [--source DIR]
      Every schema is a valid draft 2020-12 schema, every example in a schema
      is valid against it, a few broken copies of the output examples are not
      (an unknown member, money as a number), and the topics match the code:
      in/ has a schema for each topic of daemon/event.c and out/ one for each
      `.topic = "..."` of workers/*.c, and no others.

  validate.py outputs PATH...
      Validates recorded outputs: files (or directories of *.tsv files) of
      lines "topic<TAB>body", written by the integration tests' harness
      (tests/integration/harness_outputs.c). Lines "#fixture<TAB>id" name
      outbox rows a test wrote itself; outputs with those ids are skipped.
      Fails on any body that is not valid against out/<topic>.json, and on
      any topic without a schema, naming the topic, the field and the rule.

  validate.py inputs --parser EXE PATH...
      Runs EXE (tests/schemas/event_verdicts.c) on sample input messages (the
      fuzz seed corpus, tests/schemas/inputs.tsv) and checks that every one
      the daemon accepts is valid against in/<topic>.json, and that every one
      it rejects for a reason a schema can see is invalid (see INVISIBLE).

  validate.py reset DIR
      Empties (or creates) the directory that the outputs are recorded in.

Numbers are read as decimal.Decimal, never as binary floats, so "integer"
means a JSON integer without fraction or exponent and money limits compare
exactly, as in the daemon. Exit status: 0 valid, 1 invalid, 2 usage or setup.
"""

import argparse
import decimal
import json
import os
import re
import subprocess
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator, RefResolver
except ImportError:  # pragma: no cover - a setup problem, said plainly
    sys.stderr.write(
        "validate.py: python3-jsonschema is missing: apt-get install python3-jsonschema "
        "(scripts/deps installs it)\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
MAX_SHOWN = 40  # invalid messages printed in full; the rest are summed up


class BadJSON(Exception):
    pass


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise BadJSON(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constant(name):
    raise BadJSON(f"{name} is not JSON")


def strict_json(data):
    """Parses bytes as the daemon's reader does, as far as Python can: UTF-8,
    no duplicate keys, no NaN/Infinity, numbers as int or Decimal."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadJSON(f"invalid UTF-8: {e}") from None
    try:
        return json.loads(data, parse_float=decimal.Decimal, parse_constant=_no_constant,
                          object_pairs_hook=_no_duplicates)
    except ValueError as e:
        raise BadJSON(str(e)) from None


# ---- schemas -----------------------------------------------------------------

class Schemas:
    def __init__(self, root):
        self.root = root
        self.by_file = {}
        store = {}
        for dirpath, _, files in os.walk(root):
            for name in sorted(files):
                if not name.endswith(".json"):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    try:
                        schema = strict_json(f.read())
                    except BadJSON as e:
                        raise SystemExit(f"validate.py: {path}: {e}")
                rel = os.path.relpath(path, root)
                if "$id" not in schema:
                    raise SystemExit(f"validate.py: {path}: no $id")
                self.by_file[rel] = schema
                store[schema["$id"]] = schema
        self.store = store
        self.validators = {}

    def topics(self, direction):
        return sorted(rel[len(direction) + 1:-len(".json")] for rel in self.by_file
                      if rel.startswith(direction + os.sep))

    def validator(self, rel):
        if rel not in self.validators:
            schema = self.by_file[rel]
            resolver = RefResolver.from_schema(schema, store=self.store)
            self.validators[rel] = Draft202012Validator(schema, resolver=resolver)
        return self.validators[rel]

    def for_topic(self, direction, topic):
        rel = os.path.join(direction, topic + ".json")
        return self.validator(rel) if rel in self.by_file else None


def _short(value, limit=80):
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(error):
    """One error as: field, rule (keyword and value), schema path, message.
    For anyOf/oneOf/allOf the deepest sub-error that matches best is named."""
    while error.context:
        # The branch for the value's own JSON type says most ("does not
        # match pattern" rather than "is not of type number").
        same_type = [e for e in error.context if e.validator != "type"]
        error = jsonschema.exceptions.best_match(same_type or error.context)
    field = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    rule = f"{error.validator}: {_short(error.validator_value, 120)}"
    where = "/".join(str(p) for p in error.absolute_schema_path)
    if error.validator == "not":
        message = f"must not match {_short(error.validator_value)}"
    else:
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return field, rule, where, message


def errors_of(validator, instance):
    return sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))


# ---- check -------------------------------------------------------------------

def topics_in_code(source):
    """Input topics of daemon/event.c and output topics of workers/*.c."""
    with open(os.path.join(source, "daemon", "event.c"), encoding="utf-8") as f:
        event_c = f.read()
    table = re.search(r"type_names\[EV_TYPE_COUNT\]\s*=\s*\{(.*?)\};", event_c, re.S)
    inputs = set(re.findall(r'\]\s*=\s*"([^"]+)"', table.group(1))) if table else set()
    outputs = set()
    workers = os.path.join(source, "workers")
    for name in sorted(os.listdir(workers)):
        if name.endswith(".c"):
            with open(os.path.join(workers, name), encoding="utf-8") as f:
                text = f.read()
                outputs |= set(re.findall(r'\.topic\s*=\s*"([^"]+)"', text))
                # workers/output.c: the typed outputs' table, one row per kind
                outputs |= set(re.findall(r'\[OUTPUT_\w+\]\s*=\s*\{"([^"]+)"', text))
    return inputs, outputs


def cmd_check(schemas, args):
    problems = []
    for rel, schema in sorted(schemas.by_file.items()):
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            problems.append(f"{rel}: not a valid draft 2020-12 schema: {e.message}")
            continue
        want_id = "https://retentiond.example/schemas/" + rel.replace(os.sep, "/")
        if schema.get("$id") != want_id:
            problems.append(f"{rel}: $id is {schema.get('$id')!r}, expected {want_id!r}")
        for i, example in enumerate(schema.get("examples", [])):
            for e in errors_of(schemas.validator(rel), example):
                field, rule, where, message = describe(e)
                problems.append(f"{rel}: example {i}: {field}: {message} ({rule}; at {where})")
        if rel.startswith("out" + os.sep) and schema.get("examples"):
            # Broken copies that must be refused: the promise to consumers is
            # that a schema lists exactly what is sent.
            base = schema["examples"][0]
            broken = {
                "an unknown top-level member": dict(base, unknown_member=1),
                "an unknown member in context": dict(
                    base, context=dict(base["context"], unknown_member=1)),
                "context.revenue as a JSON number": dict(
                    base, context=dict(base["context"], revenue=decimal.Decimal("1.5"))),
                "a created_at with an offset": dict(base, created_at="2026-03-02T13:00:00+03:00"),
            }
            for what, instance in broken.items():
                if not errors_of(schemas.validator(rel), instance):
                    problems.append(f"{rel}: accepts its example with {what}")
        if rel.startswith("in" + os.sep) or rel.startswith("out" + os.sep):
            topic = os.path.basename(rel)[:-len(".json")]
            if schema.get("title") != topic:
                problems.append(f"{rel}: title {schema.get('title')!r} is not the topic {topic!r}")

    inputs, outputs = topics_in_code(args.source)
    if not inputs or not outputs:
        problems.append(f"cannot find the topics in {args.source}/daemon/event.c or workers/*.c")
    for direction, code in (("in", inputs), ("out", outputs)):
        have = set(schemas.topics(direction))
        for topic in sorted(code - have):
            problems.append(f"{direction}/{topic}.json is missing: the code has the topic {topic}")
        for topic in sorted(have - code):
            problems.append(f"{direction}/{topic}.json: the code has no topic {topic}")

    for p in problems:
        print("INVALID", p)
    print(f"validate.py check: {len(schemas.by_file)} schemas, input topics {len(inputs)}, "
          f"output topics {len(outputs)}: {len(problems)} problem(s)")
    return 1 if problems else 0


# ---- outputs -----------------------------------------------------------------

ID_KEYS = ("task_id", "alert_id", "job_id")


def record_files(paths):
    for path in paths:
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".tsv"):
                    yield os.path.join(path, name)
        elif os.path.exists(path):
            yield path


def output_id(body):
    if isinstance(body, dict):
        for key in ID_KEYS:
            if isinstance(body.get(key), str):
                return body[key]
    return None


def cmd_outputs(schemas, args):
    counts, skipped, invalid = {}, 0, []
    summary = {}
    files = list(record_files(args.paths))
    for path in files:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        fixtures = {line[len(b"#fixture\t"):].decode("utf-8", "replace")
                    for line in lines if line.startswith(b"#fixture\t")}
        source = os.path.basename(path)
        for number, line in enumerate(lines, 1):
            if not line or line.startswith(b"#"):
                continue
            topic_b, _, body_b = line.partition(b"\t")
            topic = topic_b.decode("utf-8", "replace")
            where = f"{source}:{number}"
            try:
                body = strict_json(body_b)
            except BadJSON as e:
                invalid.append((where, topic, "?", "(body)", "JSON", "", f"not JSON: {e}"))
                summary[(topic, "(body)", "JSON")] = summary.get((topic, "(body)", "JSON"), 0) + 1
                continue
            oid = output_id(body)
            if oid is not None and oid in fixtures:
                skipped += 1
                continue
            counts[topic] = counts.get(topic, 0) + 1
            validator = schemas.for_topic("out", topic)
            if validator is None:
                invalid.append((where, topic, oid or "?", "(topic)", "schema", "",
                                f"no schema for output topic {topic!r} "
                                f"(docs/schemas/out/{topic}.json)"))
                summary[(topic, "(topic)", "schema")] = \
                    summary.get((topic, "(topic)", "schema"), 0) + 1
                continue
            for e in errors_of(validator, body):
                field, rule, spath, message = describe(e)
                invalid.append((where, topic, oid or "?", field, rule, spath, message))
                key = (topic, field, rule)
                summary[key] = summary.get(key, 0) + 1

    for where, topic, oid, field, rule, spath, message in invalid[:MAX_SHOWN]:
        print(f"INVALID {where} {topic} {oid}: field {field}: {message}\n"
              f"        rule {rule}" + (f" (schema {spath})" if spath else ""))
    if len(invalid) > MAX_SHOWN:
        print(f"... and {len(invalid) - MAX_SHOWN} more")
    if summary:
        print("invalid outputs by topic, field and rule:")
        for (topic, field, rule), n in sorted(summary.items()):
            print(f"  {n:6d}  {topic}  {field}  {rule}")
    total = sum(counts.values())
    per_topic = ", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "none"
    print(f"validate.py outputs: {total} outputs from {len(files)} file(s) ({per_topic}); "
          f"{skipped} test-written rows skipped; {len(invalid)} problem(s)")
    return 1 if invalid else 0


def cmd_reset(args):
    os.makedirs(args.dir, exist_ok=True)
    for name in os.listdir(args.dir):
        if name.endswith(".tsv"):
            os.unlink(os.path.join(args.dir, name))
    return 0


# ---- inputs ------------------------------------------------------------------

# Reject reasons a schema can show: the message is invalid against it (or is no
# JSON, or has no schema). currency depends on the configuration; too_large and
# bad_frames on the transport.
VISIBLE = {"unknown_topic", "bad_json", "not_object", "missing_field", "bad_type", "bad_value"}

# Rules a JSON Schema cannot state exactly (documented in docs/messages.md):
# a message rejected for one of these may still be schema-valid. Each entry:
# a regular expression on the daemon's explanation, and a predicate on
# (body, field) that says whether this case is one the schema cannot see.
def _money_number_or_exponent(body, field):
    value = body.get(field) if isinstance(body, dict) else None
    return not isinstance(value, str) or "e" in value.lower()


def _longer_than_128_bytes_only(body, field):
    value = body.get(field) if isinstance(body, dict) else None
    return isinstance(value, str) and len(value) <= 128 < len(value.encode("utf-8"))


INVISIBLE = [
    (r"more than 4 decimal places|more than 15 digits before", _money_number_or_exponent),
    (r"id longer than 128 bytes", _longer_than_128_bytes_only),
    (r"day out of range for the month|before 1970-01-01|after 9999-12-31", None),
    (r"nesting|too deep|\\u0000|surrogate", None),  # JSON that Python reads and the daemon does not
]


def invisible(why, body):
    field = re.search(r'field "([^"]+)"', why)
    for pattern, predicate in INVISIBLE:
        if re.search(pattern, why):
            if predicate is None or predicate(body, field.group(1) if field else None):
                return pattern
    return None


def read_case(name):
    """The (topic, body bytes) of a case named by event_verdicts."""
    match = re.match(r"^(.*\.tsv):(\d+)$", name)
    if match:
        with open(match.group(1), "rb") as f:
            line = f.read().split(b"\n")[int(match.group(2)) - 1]
        topic, _, body = line.partition(b"\t")
    else:
        with open(name, "rb") as f:
            data = f.read()
        topic, _, body = data.partition(b"\n")
    return topic.decode("utf-8", "replace"), body


def cmd_inputs(schemas, args):
    run = subprocess.run([args.parser] + args.paths, stdout=subprocess.PIPE, check=False)
    if run.returncode != 0:
        print(f"validate.py inputs: {args.parser} exited {run.returncode}")
        return 2
    problems, accepted, rejected, unseen = [], 0, 0, {}
    for line in run.stdout.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        verdict, name, why = (line.split("\t", 2) + ["", ""])[:3]
        topic, raw = read_case(name)
        validator = schemas.for_topic("in", topic)
        try:
            body = strict_json(raw)
            json_problem = None
        except BadJSON as e:
            body, json_problem = None, str(e)
        if json_problem is not None:
            errs = [f"not JSON: {json_problem}"]
        elif validator is None:
            errs = [f"no schema for input topic {topic!r}"]
        else:
            errs = []
            for e in errors_of(validator, body):
                field, rule, _, message = describe(e)
                errs.append(f"field {field}: {message} ({rule})")
        if verdict == "accepted":
            accepted += 1
            if errs:
                problems.append(f"{name}: the daemon accepts this {topic} but the schema does "
                                f"not: {errs[0]}")
        else:
            rejected += 1
            if errs or verdict not in VISIBLE:
                continue
            exempt = invisible(why, body)
            if exempt:
                unseen[exempt] = unseen.get(exempt, 0) + 1
                continue
            problems.append(f"{name}: the daemon rejects this {topic} ({verdict}: {why}) but "
                            f"the schema accepts it")
    for p in problems:
        print("INVALID", p)
    if unseen:
        print("rejected, valid against the schema, for rules no JSON Schema can state:")
        for pattern, n in sorted(unseen.items()):
            print(f"  {n:4d}  {pattern}")
    print(f"validate.py inputs: {accepted} accepted and {rejected} rejected messages; "
          f"{len(problems)} problem(s)")
    if accepted == 0:
        print("validate.py inputs: no message was accepted: the corpus is missing?")
        return 1
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", default=os.path.join(SOURCE, "docs", "schemas"),
                        help="the schema directory (default: docs/schemas of this tree)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check")
    p.add_argument("--source", default=SOURCE, help="the source tree (default: this one)")
    p = sub.add_parser("outputs")
    p.add_argument("paths", nargs="+")
    p = sub.add_parser("inputs")
    p.add_argument("--parser", required=True)
    p.add_argument("paths", nargs="+")
    p = sub.add_parser("reset")
    p.add_argument("dir")
    args = parser.parse_args()
    if args.cmd == "reset":
        return cmd_reset(args)
    schemas = Schemas(args.schemas)
    return {"check": cmd_check, "outputs": cmd_outputs, "inputs": cmd_inputs}[args.cmd](
        schemas, args)


if __name__ == "__main__":
    sys.exit(main())
