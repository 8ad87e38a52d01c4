"""A plain `pip install .` (pip's build isolation, as most users type it) into an environment whose
torch is not the newest gives a working extension, compiled against that torch: the build uses the
target environment's torch instead of fetching another (setup.py). Minutes: CI runs it
(CNNKERNELS_TEST_PLAIN_INSTALL=1, set by .ci/run); a CPU build of torch 2.13.0 stands for "another
torch" (pip takes it from this machine's disk; elsewhere, from the package index)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OTHER_TORCH = os.environ.get("CNNKERNELS_TEST_OTHER_TORCH", "torch==2.13.0")

pytestmark = pytest.mark.skipif(os.environ.get("CNNKERNELS_TEST_PLAIN_INSTALL") != "1",
                                reason="minutes of building: set CNNKERNELS_TEST_PLAIN_INSTALL=1 (CI does)")


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, **kwargs)
    shown = " ".join(map(str, cmd))
    assert result.returncode == 0, f"{shown} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_plain_pip_install_builds_against_the_environments_torch(tmp_path):
    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", str(tmp_path / "venv")])
    python = str(tmp_path / "venv" / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", OTHER_TORCH, "numpy"])
    version = run([python, "-c", "import torch; print(torch.__version__)"]).strip()
    source = tmp_path / "source"  # this tree as a fresh clone has it: no build products, no venv
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT).split()
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), source / name)
    run([python, "-m", "pip", "install", "--quiet", str(source)], env={**os.environ, "MAX_JOBS": "2"})
    check = (
        "import torch, cnnkernels, cnnkernels.nn.functional as CF\n"
        "from cnnkernels import backends\n"
        f"assert torch.__version__ == {version!r}, torch.__version__\n"
        "assert backends.unavailable_reason('cpu') is None, backends.unavailable_reason('cpu')\n"
        "x = torch.randn(2, 6, 5, 5)\n"
        "expected = torch.nn.functional.local_response_norm(x, 5)\n"
        "torch.testing.assert_close(CF.local_response_norm(x, 5, backend='cpu'), expected)\n"
        "print('ok', cnnkernels.__file__)\n"
    )
    out = run([python, "-W", "error::UserWarning:cnnkernels.ops", "-c", check], cwd=tmp_path)  # not the source tree
    assert out.startswith("ok") and "site-packages" in out
