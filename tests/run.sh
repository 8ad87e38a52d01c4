#!/usr/bin/env bash
# Sets up .venv (see .ci/env.sh) and runs the test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.sh
"$PY" -m pytest "$@"
