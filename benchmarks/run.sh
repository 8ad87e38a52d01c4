#!/usr/bin/env bash
# Sets up .venv (see .ci/env.sh) and runs the kernel benchmark on the GPU if there is one, else the
# CPU; extra arguments go to `python -m benchmarks` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.sh
"$PY" -m benchmarks "$@"
