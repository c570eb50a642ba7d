// The AsyncAPI document, checked with the AsyncAPI initiative's own parser (which validates
// against the 3.0 specification's schema, resolves every $ref, including the message
// schemas under ../schemas, and lints).
//
// Usage: node check_asyncapi.mjs contracts/asyncapi.json
// Exit status 0 when it parses with no error; errors and warnings are printed.

import { Parser, fromFile } from '@asyncapi/parser';

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, path).parse();
const severity = ['error', 'warning', 'info', 'hint'];
for (const d of diagnostics) {
  console.log(`${severity[d.severity]} ${d.code} at ${d.path.join('.')}: ${d.message}`);
}
const errors = diagnostics.filter((d) => d.severity === 0);
if (!document || errors.length > 0) {
  console.error(`${path}: ${errors.length} errors`);
  process.exit(1);
}
const channels = document.channels().length;
const messages = document.allMessages().length;
console.log(`${path}: valid AsyncAPI ${document.version()} (${channels} channels, ${messages} messages)`);
