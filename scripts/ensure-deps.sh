#!/usr/bin/env bash
# Installs npm dependencies, exactly as package-lock.json records them (`npm ci`), when they are
# missing, older than the lockfile, or lack the project's Node.js (node_modules/.bin/node, put
# there by the `node` package's install script; an install with --ignore-scripts leaves it out).
set -euo pipefail
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ ! -x node_modules/.bin/node ]; then
  npm ci --no-audit --no-fund
fi
