# Sourced by tests/run.sh, benchmarks/run.sh and CI: the one place that sets a machine up, and again
# each time, doing only what changed:
#   - .venv, created once;
#   - torch, installed once (see TORCH_SPEC);
#   - cnnkernels' dependencies and its test, benchmark and training tools, and an editable install of
#     this tree, whenever pyproject.toml changes;
#   - the extension, built in place (build/, ninja): only what changed since, sources or torch.
# Afterwards $PY is the environment's python.
#   CNNKERNELS_VENV   where the environment lives (default .venv)
#   TORCH_SPEC        the torch to install where there is none (default: torch==2.14.1, a CUDA build, on a
#                     machine with an NVIDIA GPU; elsewhere its CPU build from download.pytorch.org, and
#                     the default one if that is out of reach). A CUDA build of torch also compiles
#                     cnnkernels' CUDA kernels, GPU or not.
#   CNNKERNELS_SETUP  "venv": stop before building the extension (for --help)
set -euo pipefail
VENV="${CNNKERNELS_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"

if ! "$PY" -c "import torch" 2>/dev/null; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    "$PY" -m pip install --quiet $TORCH_SPEC
  elif [ -e /dev/nvidia0 ] || command -v nvidia-smi >/dev/null 2>&1; then
    "$PY" -m pip install --quiet torch==2.14.1
  elif "$PY" -c "import urllib.request as u; u.urlopen('https://download.pytorch.org/whl/cpu/', timeout=10)" \
      2>/dev/null; then
    echo "no NVIDIA GPU here: installing torch's CPU build (TORCH_SPEC=torch==2.14.1 for the CUDA build)"
    "$PY" -m pip install --quiet torch==2.14.1 --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
  else
    echo "no NVIDIA GPU here, and download.pytorch.org (torch's CPU builds) is out of reach: installing" \
      "torch==2.14.1 from the package index (set TORCH_SPEC to choose another)"
    "$PY" -m pip install --quiet torch==2.14.1
  fi
fi

# Dependencies and the editable install, when pyproject.toml changed (CNNKERNELS_SKIP_BUILD: pip
# compiles nothing; the extension is built in place below, incrementally).
stamp="$VENV/.cnnkernels-installed"
wanted="$("$PY" -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest())")"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  "$PY" -m pip install --quiet "setuptools>=77" wheel ninja
  CNNKERNELS_SKIP_BUILD=1 "$PY" -m pip install --quiet --no-build-isolation -e ".[test,bench,train]"
  echo "$wanted" > "$stamp"
fi
if [ "${CNNKERNELS_SETUP:-}" = venv ]; then
  return 0 2>/dev/null || exit 0
fi

"$PY" setup.py --quiet build_ext --inplace
"$PY" -m cnnkernels
