#!/usr/bin/env bash
# `npm start`: the sandbox on local defaults. PostgreSQL and Redis (installed and started when
# needed), npm dependencies, then `restorebot demo` with any extra arguments
# (`npm start -- --port 9000 --no-open`). The sources run through tsx rather than a full
# TypeScript build, so a fresh machine reaches the console in seconds; `npm run build` makes
# the `restorebot` executable for everything else.
#
# Signals: npm forwards SIGINT and SIGTERM to the one process it started. package.json's
# `exec bash scripts/start.sh` and the `exec` below make that process the sandbox's node
# itself (no shell in between that would die and leave node running), and the sandbox stops
# everything it started on either signal. A Ctrl-C in the terminal reaches npm and every process
# of its group; node runs in a session of its own (setsid) so it gets that Ctrl-C once, from
# npm, and not a second time from the terminal — a second signal forces the stop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
node scripts/check-node.mjs "npm start"
if command -v setsid >/dev/null 2>&1; then
  exec setsid node --import tsx src/cli/main.ts demo "$@"
fi
exec node --import tsx src/cli/main.ts demo "$@"
