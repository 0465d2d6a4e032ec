#!/usr/bin/env bash
# Installs npm dependencies when they are missing or older than the lockfile.
# `npm ci` first (exactly the lockfile). Some npm 11 releases refuse a correct lockfile whose
# optional per-platform packages (Biome's and msgpackr's binaries for other systems) are not
# all recorded; then install from the same lockfile without rewriting it.
set -euo pipefail
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund 2>/tmp/restorebot-npm-ci.log; then
    if grep -q "EUSAGE" /tmp/restorebot-npm-ci.log; then
      echo "[deps] npm ci refused the lockfile (an npm quirk with optional platform packages); installing from it with npm install --no-save"
      npm install --no-audit --no-fund --no-save
    else
      cat /tmp/restorebot-npm-ci.log >&2
      exit 1
    fi
  fi
fi
