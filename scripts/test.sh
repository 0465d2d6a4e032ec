#!/usr/bin/env bash
# The whole test suite, as a contributor and CI run it: services, dependencies, the Node.js
# check, build, lint, type check, then every test against real PostgreSQL and Redis and the
# local stand-ins.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
# The Node.js version in use, and a stop unless it is the project's (Node 24, from npm).
node scripts/check-node.mjs "npm test"
bash scripts/ensure-browser.sh
npm run --silent build
npm run --silent typecheck
# Lint does not stop the tests: both run, and either failing fails the whole command.
set +e
npm run --silent lint
lint_status=$?
mkdir -p test-results
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
set -e
# One plain closing line that any CI can read: "N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' 2>/dev/null || true
if [ "$lint_status" -ne 0 ]; then echo "Lint failed (see above)."; [ "$status" -eq 0 ] && status=$lint_status; fi
exit $status
