#!/usr/bin/env bash
# Everything the GPU needs checking, on a fresh GPU machine with torch preinstalled and no network,
# within a time budget: build, the test suite on the GPU (CUDA and Triton), a compute-sanitizer
# memcheck of the CUDA kernels, the kernel benchmark and the whole-model benchmark. Each step runs
# even if one before it failed; OUT_DIR/summary.txt says how each went, OUT_DIR/results.tgz holds
# the logs and CSVs.
#   usage: bash benchmarks/gpu_check.sh OUT_DIR [SECONDS]     (default 480 s)
#   env:   PYTHON, TORCH_CUDA_ARCH_LIST (9.0), MAX_JOBS (16), KERNEL_ARGS and MODEL_ARGS (for
#          python -m benchmarks; the defaults fit the budget: see below), CNNKERNELS_COMMIT (the
#          commit the CSV names, where the copy has no .git), WARM_COMPILE (0: no torch.compile warm-up),
#          PYTEST_K (e.g. "cuda or triton": the GPU's tests alone), TESTS_SECONDS, MODELS_SECONDS
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: bash benchmarks/gpu_check.sh OUT_DIR [SECONDS]}"
BUDGET="${2:-480}"
RUN="$OUT/run"
mkdir -p "$RUN"
PY="${PYTHON:-python3}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS="${MAX_JOBS:-16}" PYTHONUNBUFFERED=1
KERNEL_ARGS="${KERNEL_ARGS:---dtypes float32,float16,bfloat16 --directions fwd,bwd}"
MODEL_ARGS="${MODEL_ARGS:---models alexnet-paper,alexnet,googlenet-paper,googlenet,vgg16,resnet50 --precisions bf16-cl --no-compile --model-steps 10}"
deadline=$((SECONDS + BUDGET))

step() {  # step NAME MAX_SECONDS COMMAND...: runs it (at most MAX_SECONDS, never past the budget), logs to RUN/NAME.log
  local name=$1 cap=$2; shift 2
  local left=$((deadline - SECONDS - 10)) start=$SECONDS
  [ "$cap" -lt "$left" ] || cap=$left
  if [ "$cap" -le 5 ]; then
    echo "$name: skipped, out of time" | tee -a "$OUT/summary.txt"; return
  fi
  timeout -k 5 "$cap" "$@" > "$RUN/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc$([ $rc -eq 124 ] && echo ' (time limit)'), $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  tail -n 4 "$RUN/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv > "$RUN/gpu.txt" 2>&1
cat "$RUN/gpu.txt"

# torch.compile's provider spends most of its time compiling: fill Inductor's on-disk caches in the
# background (one process per dtype) while the extension builds and the tests run.
warmers=()
[ "${WARM_COMPILE:-1}" = 1 ] && for dtype in float32 float16 bfloat16; do
  timeout 400 "$PY" -m benchmarks --providers torch-compile --ops lrn,max_pool2d,add_relu --dtypes $dtype \
    --directions fwd,bwd --models none --out /tmp/cnnkernels-warm-$dtype > "/tmp/cnnkernels-warm-$dtype.log" 2>&1 &
  warmers+=($!)
done

step build 300 "$PY" -m pip install --no-build-isolation --no-deps -e .
step info 60 "$PY" -m cnnkernels
# The tests and the memcheck side by side (correctness only; the GPU is quiet again for the timings).
XDIST=$("$PY" -c "import xdist" 2>/dev/null && echo "-n 12")
step tests "${TESTS_SECONDS:-200}" "$PY" -m pytest -v -rfE -p no:cacheprovider $XDIST tests ${PYTEST_K:+-k "$PYTEST_K"} &
tests=$!
step memcheck 150 "$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)" --tool memcheck --leak-check no --error-exitcode 99 \
  "$PY" -m pytest -q -x -p no:cacheprovider tests/test_lrn.py tests/test_max_pool2d.py tests/test_add_relu.py \
  -k "cuda and (matches_pytorch or nan or empty or 3d_input or inplace)" &
wait $tests $!
kill "${warmers[@]}" 2>/dev/null
tail -q -n 1 /tmp/cnnkernels-warm-*.log

models_s=${MODELS_SECONDS:-75}
step models "$models_s" "$PY" -m benchmarks --ops none $MODEL_ARGS --time-limit $((models_s - 30)) --out "$RUN/models"
left=$((deadline - SECONDS))
step kernels "$left" "$PY" -m benchmarks --models none $KERNEL_ARGS --time-limit $((left - 40)) --out "$RUN/kernels"

for part in kernels models; do
  for csv in "$RUN/$part"/*.csv; do [ -e "$csv" ] && cp "$csv" "$OUT/$part-$(basename "$csv")"; done
done
tar czf "$OUT/results.tgz" -C "$RUN" . && rm -rf "$RUN"
cat "$OUT/summary.txt"
! grep -q -e "exit [1-9]" -e skipped "$OUT/summary.txt"
