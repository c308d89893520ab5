"""The document's patterns in Python's re (what schemathesis and Python form validators use):
they compile and give the verdicts the Rust parsers give (tests/tests/protocol.rs)."""
import json, re, sys
doc = json.load(open(sys.argv[1]))
samples = json.load(open(sys.argv[2]))
for name, cases in samples.items():
    pattern = re.compile(doc["components"]["schemas"][name]["pattern"])
    for s in cases["accepted"]:
        assert pattern.search(s), f"Python: {name} pattern refuses {s!r}"
    for s in cases["refused"]:
        assert not pattern.search(s), f"Python: {name} pattern accepts {s!r}"
print("patterns in Python re: the same verdicts")
