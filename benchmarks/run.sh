#!/usr/bin/env bash
# Sets up .venv (see .ci/env.sh) and runs the kernel benchmark on the GPU if there is one, else the
# CPU; extra arguments go to `python -m benchmarks` (see --help, which needs no build).
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
  if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
    CNNKERNELS_SETUP=venv source .ci/env.sh
    PYTHONWARNINGS=ignore "$PY" -m benchmarks --help  # (no warning that the extension is not built yet)
    exit 0
  fi
done
source .ci/env.sh
"$PY" -m benchmarks "$@"
