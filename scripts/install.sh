#!/usr/bin/env bash
# Create .venv and install curate into it. torch==2.13.0 goes in first, on its own: any unpinned torch
# requirement resolved later is then already satisfied, instead of pulling several GB of CUDA wheels.
# Usage: bash scripts/install.sh [--dev]     (--dev adds pytest and ruff)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"curate needs Python >= 3.11, found {sys.version.split()[0]}")
PY
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
.venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
  || "${PIP[@]}" install "torch==2.13.0"
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
"${PIP[@]}" install -c constraints.txt -e ".${extra}"
echo "curate installed in $(pwd)/.venv" >&2
