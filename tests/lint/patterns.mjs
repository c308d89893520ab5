// The document's patterns in JavaScript (what browsers and ajv use, with and without the
// u flag): they compile and give the verdicts the Rust parsers give.
import { readFileSync } from "node:fs";
const doc = JSON.parse(readFileSync(process.argv[2], "utf8"));
const samples = JSON.parse(readFileSync(process.argv[3], "utf8"));
for (const flags of ["", "u"]) {
  for (const [name, cases] of Object.entries(samples)) {
    const pattern = new RegExp(doc.components.schemas[name].pattern, flags);
    for (const s of cases.accepted) if (!pattern.test(s)) throw new Error(`JS(${flags}): ${name} refuses ${JSON.stringify(s)}`);
    for (const s of cases.refused) if (pattern.test(s)) throw new Error(`JS(${flags}): ${name} accepts ${JSON.stringify(s)}`);
  }
}
console.log("patterns in JavaScript (with and without u): the same verdicts");
