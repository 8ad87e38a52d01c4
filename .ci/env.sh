# Sourced by tests/run.sh, benchmarks/run.sh and CI: the one place that sets a machine up.
# Creates .venv (if missing), installs torch (if missing) and the test and benchmark tools, and
# builds cnnkernels from this tree into it. Afterwards $PY is the environment's python.
#   CNNKERNELS_VENV   where the environment lives (default .venv)
#   TORCH_SPEC        the torch to install if none is there (default torch==2.14.1)
set -euo pipefail
VENV="${CNNKERNELS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import torch" 2>/dev/null; then
  "$PY" -m pip install --quiet "${TORCH_SPEC:-torch==2.14.1}"
fi
# The build compiles against the environment's torch, so it runs without build isolation and needs
# its build tools installed first.
"$PY" -m pip install --quiet setuptools wheel ninja
"$PY" -m pip install --quiet --no-build-isolation -e ".[test,bench]"
"$PY" -m cnnkernels
