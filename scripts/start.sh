#!/usr/bin/env bash
# `npm start`: the sandbox on local defaults. PostgreSQL and Redis (installed and started when
# needed), npm dependencies, a build, then `restorebot demo` with any extra arguments
# (`npm start -- --port 9000 --no-open`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-services.sh
bash scripts/ensure-deps.sh
npm run --silent build
exec node dist/src/cli/main.js demo "$@"
