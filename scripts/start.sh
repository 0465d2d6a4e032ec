#!/usr/bin/env bash
# `npm start`: the sandbox on local defaults. PostgreSQL and Redis (installed and started when
# needed), npm dependencies, then `restorebot demo` with any extra arguments
# (`npm start -- --port 9000 --no-open`). The sources run through tsx rather than a full
# TypeScript build, so a fresh machine reaches the console in seconds; `npm run build` makes
# the `restorebot` executable for everything else.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
exec node --import tsx src/cli/main.ts demo "$@"
