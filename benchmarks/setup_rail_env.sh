#!/usr/bin/env bash
# Create a separate virtualenv with LSST DESC RAIL for benchmarks/photoz_dc2.py.
# RAIL is never a dependency of cosmoml: it lives in benchmarks/.rail-venv only.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${RAIL_VENV:-$HERE/.rail-venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip wheel
"$VENV/bin/pip" install -q pz-rail-base pz-rail-sklearn pz-rail-flexzboost
"$VENV/bin/python" -c "import rail.estimation.algos.flexzboost, rail.estimation.algos.k_nearneigh; print('RAIL environment ready:', '$VENV')"
