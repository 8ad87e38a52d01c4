#!/usr/bin/env bash
# Sets up .venv (see .ci/env.sh) and runs the test suite; extra arguments go to pytest.
# A second run checks the Triton kernels on the CPU through Triton's interpreter (small shapes);
# on a GPU machine the first run tests them on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/env.sh
"$PY" -m pytest "$@"
if ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  TRITON_INTERPRET=1 "$PY" -m pytest "$@" -k triton tests/test_lrn.py tests/test_max_pool2d.py tests/test_add_relu.py \
    tests/test_compile.py tests/test_api.py tests/test_parity.py
fi
