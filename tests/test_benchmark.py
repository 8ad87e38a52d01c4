"""The benchmark entry point runs end to end (tiny settings) and writes the CSV and chart it promises."""
import csv
import os
import subprocess
import sys

import pytest

from benchmarks.report import COLUMNS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("ops", ["lrn,add_relu", "max_pool2d"])
def test_benchmark_writes_csv_and_chart(tmp_path, ops):
    cmd = [sys.executable, "-m", "benchmarks", "--device", "cpu", "--batch", "1", "--ops", ops, "--dtypes", "float32",
           "--models", "none", "--seconds", "0.01", "--out", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    [csv_path] = [p for p in tmp_path.iterdir() if p.suffix == ".csv"]
    assert (tmp_path / (csv_path.stem + ".png")).stat().st_size > 0
    with open(csv_path) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS
    assert {r["op"] for r in rows} == set(ops.split(","))
    assert {r["direction"] for r in rows} == {"fwd", "bwd"} and {r["layout"] for r in rows} == {"nchw", "nhwc"}
    assert {"torch-eager", "cnnkernels-cpu"} <= {r["provider"] for r in rows}
    for r in rows:
        assert float(r["ms_p20"]) <= float(r["ms_p50"]) <= float(r["ms_p80"])
        assert float(r["gbps"]) > 0 and float(r["pct_of_copy"]) > 0
    assert "speed-up over torch-eager" in result.stdout


def test_model_benchmark_writes_rows_and_checks_the_loss_curve(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks", "--device", "cpu", "--ops", "none", "--models", "alexnet-paper,resnet50",
           "--model-batch", "2", "--image-size", "64", "--model-steps", "1", "--check-steps", "3", "--no-compile",
           "--precisions", "fp32", "--out", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    [csv_path] = list(tmp_path.glob("*.csv"))
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert {(r["op"], r["direction"], r["provider"]) for r in rows} == {
        (f"model:{m}", d, p) for m in ("alexnet-paper", "resnet50") for d in ("train", "infer")
        for p in ("cnnkernels", "torch-eager")
    }
    assert all(float(r["img_per_s"]) > 0 for r in rows)
    assert result.stdout.count("loss check") == 2 and "DIFFERS" not in result.stdout
