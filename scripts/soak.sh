#!/usr/bin/env bash
# make soak: RUNS sequential and PARALLEL parallel sandboxes from one long-lived process (the
# library, as ruko-build and the shim use it), then checks that nothing is left behind and that
# memory did not grow. Usage: scripts/soak.sh RUKO_RUN RUNS PARALLEL
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${2:-1000}
parallel=${3:-50}
echo "soak: $runs sequential + $parallel parallel sandbox runs"
RUKO_BIN_DIR=$(dirname "$1") RUKO_SOAK_RUNS=$runs RUKO_SOAK_PARALLEL=$parallel \
    swift test --skip-build --no-parallel --filter SoakTests
