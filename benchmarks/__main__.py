"""python -m benchmarks: the kernel benchmark (every op on the networks' shapes, every provider,
forward and backward, against a copy measured in the same run) and, on a GPU, the whole-model
benchmark. Writes <out>/<device>-<date>.csv (one row per op, case, provider; see README) and a
chart per op, <out>/<device>-<date>-<op>.png.

    python -m benchmarks                           # the GPU if there is one, else the CPU
    python -m benchmarks --device cpu --batch 4 --ops lrn --models none
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

import torch

from . import kernels, models, report
from .timing import copy_gbps, run_metadata

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULTS = {  # per device
    "cpu": dict(batch=8, dtypes="float32,bfloat16", directions="fwd,bwd", compile=False, copy_mb=256, models="none"),
    "cuda": dict(batch=128, dtypes="float32,float16,bfloat16", directions="fwd,bwd,fwd+bwd", compile=True,
                 copy_mb=1024, models=",".join(models.MODELS)),
}


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch", type=int, help="kernels: images per batch (default: 128 on a GPU, 8 on the CPU)")
    p.add_argument("--ops", default="lrn,max_pool2d,add_relu",
                   help="comma-separated ops to time, from lrn, max_pool2d, add_relu; or none (only --models)")
    p.add_argument("--providers", help="kernels: comma-separated providers to time (default: every one available)")
    p.add_argument("--dtypes", help="comma-separated, from float32, float16, bfloat16")
    p.add_argument("--layouts", default="nchw,nhwc",
                   help="comma-separated memory layouts of the inputs: nchw (contiguous), nhwc (channels_last)")
    p.add_argument("--directions", help="comma-separated, from fwd, bwd, fwd+bwd")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, help="include torch.compile (default: on a GPU)")
    p.add_argument("--seconds", type=float, default=0.2, help="CPU: seconds of timing per provider and case")
    p.add_argument("--models", help=f"models to time, from {', '.join(models.MODELS)}; or none (the CPU's default)")
    p.add_argument("--precisions", default="bf16-cl,fp32", help="models: bf16-cl (bf16 autocast, channels_last), fp32")
    p.add_argument("--model-batch", type=int, help="models: batch (default: 256 for AlexNet, 128 otherwise)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--model-steps", type=int, default=20, help="models: timed steps per measurement")
    p.add_argument("--check-steps", type=int, default=50, help="models: steps of the loss-curve check (0: none)")
    p.add_argument("--time-limit", type=float, help="seconds: start no new case or model run after this long")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                   help="folder for <device>-<date>.csv and the charts <device>-<date>-<op>.png")
    args = p.parse_args(argv)

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    args.device = torch.device(args.device)
    defaults = DEFAULTS[args.device.type]
    args.batch = args.batch or defaults["batch"]
    args.ops = [] if args.ops == "none" else args.ops.split(",")
    args.providers = args.providers.split(",") if args.providers else None
    args.dtypes = [DTYPES[d] for d in (args.dtypes or defaults["dtypes"]).split(",")]
    args.layouts = args.layouts.split(",")
    args.directions = (args.directions or defaults["directions"]).split(",")
    args.compile = defaults["compile"] if args.compile is None else args.compile
    chosen = args.models or defaults["models"]
    args.models = [] if chosen == "none" else chosen.split(",")
    unknown = [m for m in args.models if m not in models.MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; expected some of {', '.join(models.MODELS)}")
    args.precisions = args.precisions.split(",")
    args.deadline = time.perf_counter() + args.time_limit if args.time_limit else float("inf")
    args.model_providers = [n for n, (_, compiled) in models.PROVIDERS.items() if args.compile or not compiled]
    return args


# A provider timed by a process of its own when it runs beside others on a GPU: PyTorch 2.11's
# compiled LRN once raised an illegal memory access on an H200, which ends a process's CUDA context.
ISOLATED = "torch-compile"


def isolated(settings):
    wanted = settings.providers is None or (ISOLATED in settings.providers and len(settings.providers) > 1)
    return settings.device.type == "cuda" and settings.compile and bool(settings.ops) and wanted


def isolated_rows(argv, settings):
    """ISOLATED's kernel rows, timed by a child process; its failure is reported, not fatal."""
    left = settings.deadline - time.perf_counter()
    limit = ["--time-limit", f"{max(left, 1.0):.0f}"] if left != float("inf") else []
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "benchmarks", *argv, "--providers", ISOLATED, "--models", "none", *limit,
               "--out", out]
        code = subprocess.run(cmd, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).returncode
        rows = [row for path in glob.glob(os.path.join(out, "*.csv")) for row in report.read_csv(path)]
    return rows, ([] if code == 0 else [f"{ISOLATED}: its process ended with exit code {code}"])


def check_the_extension(settings):
    """Without cnnkernels' compiled kernels there is nothing of ours to time: say why, and stop."""
    from cnnkernels import backends, ops

    wanted = settings.providers is None or any(p.startswith("cnnkernels") for p in settings.providers)
    if settings.ops and wanted and ops.BUILD_INFO is None:
        import cnnkernels

        raise SystemExit(
            f"benchmarks: {backends.unavailable_reason('cpu')}. Imported from {os.path.dirname(cnnkernels.__file__)}"
            " (in a source tree after a plain `pip install .`, its cnnkernels/ folder hides the installed package:"
            " run from another folder, or build it in place with `bash benchmarks/run.sh`)."
        )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    settings = parse(argv)
    check_the_extension(settings)
    device = settings.device
    torch.manual_seed(0)
    meta = run_metadata(device)
    copy = copy_gbps(device, DEFAULTS[device.type]["copy_mb"], settings.seconds)
    print(f"{meta['device']}, torch {meta['torch']}: copy {copy:.1f} GB/s (read + write)")
    stem = os.path.join(settings.out, f"{report.slug(meta['device'])}-{meta['timestamp'][:10]}")
    os.makedirs(settings.out, exist_ok=True)
    apart = isolated(settings)
    rows, failures = kernels.run(settings, device, meta, copy, skip={ISOLATED} if apart else set()) \
        if settings.ops else ([], [])
    if apart:
        more, more_failures = isolated_rows(argv, settings)
        rows, failures = rows + more, failures + more_failures
    report.write_csv(rows, stem + ".csv")  # now, so a run cut short in the models keeps the kernels' rows
    model_rows, checks, model_failures = models.run(settings, device, meta) if settings.models else ([], [], [])
    report.write_csv(rows + model_rows, stem + ".csv")
    charts = []
    if rows:
        report.print_table(rows)
        charts = report.chart(rows, stem)
    models.print_models(model_rows, checks)
    print(f"wrote {stem}.csv" + "".join(f", {path}" for path in charts))
    problems = failures + model_failures + [
        f"loss curve of {c[0]} {c[1]} differs from PyTorch's" for c in checks if c[2] > c[3]]
    if problems:
        raise SystemExit("benchmark problems:\n  " + "\n  ".join(problems))


if __name__ == "__main__":
    main()
