#!/usr/bin/env bash
# Everything the GPU needs checking, on a fresh GPU machine with torch preinstalled and no network:
# build, the test suite (CUDA and Triton on the GPU), a compute-sanitizer memcheck of the CUDA
# kernels, and the kernel benchmark. Results and logs go to OUT_DIR; each step runs even if one
# before it failed, and OUT_DIR/summary.txt says how each went.
#   usage: bash benchmarks/gpu_check.sh OUT_DIR
#   env:   PYTHON, TORCH_CUDA_ARCH_LIST (9.0), MAX_JOBS (16), BENCHMARK_ARGS (for python -m benchmarks;
#          the default keeps the run within minutes: fp32 and fp16, forward and backward, no models —
#          time the models in a call of their own: python -m benchmarks --ops none --models resnet50)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS="${MAX_JOBS:-16}"
status=0
step() {  # step NAME COMMAND...: runs it, logs to OUT/NAME.log, remembers a failure, goes on
  local name=$1; shift
  local start=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc, $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  tail -n 3 "$OUT/$name.log"
  [ $rc -eq 0 ] || status=1
}
step build "$PY" -m pip install --no-build-isolation --no-deps -e .
step info "$PY" -m cnnkernels
step tests "$PY" -m pytest -q tests -p no:cacheprovider
step memcheck compute-sanitizer --tool memcheck --error-exitcode 99 \
  "$PY" -m pytest -q -x -p no:cacheprovider tests/test_lrn.py tests/test_max_pool2d.py tests/test_add_relu.py \
  -k "cuda and (matches_pytorch or nan or empty or 3d_input or inplace)"
step benchmark "$PY" -m benchmarks --out "$OUT" \
  ${BENCHMARK_ARGS:---dtypes float32,float16 --directions fwd,bwd --models none}
exit $status
