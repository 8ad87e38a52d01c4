"""Kernel benchmark: every op on the networks' shapes, every provider, forward and backward, timed
against a device-to-device copy measured in the same run. Writes a long-format CSV and a chart.

    python -m benchmarks                 # the GPU if there is one, else the CPU
    python -m benchmarks --device cpu --batch 4 --ops lrn
"""
import argparse
import datetime
import os
import statistics
import subprocess
import time

import torch
from tqdm import tqdm

from . import providers, report
from .shapes import CASES

DTYPE_NAMES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
DEFAULTS = {  # per device: batch, dtypes, directions, torch.compile, copy buffer (MB)
    "cpu": dict(batch=8, dtypes="float32,bfloat16", directions="fwd,bwd", compile=False, copy_mb=256),
    "cuda": dict(batch=128, dtypes="float32,float16,bfloat16", directions="fwd,bwd,fwd+bwd", compile=True, copy_mb=1024),
}


def quantiles(times_ms):
    q = statistics.quantiles(times_ms, n=10, method="inclusive") if len(times_ms) > 1 else times_ms * 9
    return statistics.median(times_ms), q[1], q[7]


def time_ms(timed, device, budget_s):
    """{name: (p50, p20, p80)} of one call of each callable in ms, after warm-up. On the CPU the
    callables take turns, in rounds, so a slow spell of a shared machine hits them all alike."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return {name: tuple(do_bench(fn, warmup=25, rep=100, quantiles=[0.5, 0.2, 0.8])) for name, fn in timed.items()}
    rounds = 5
    samples = {name: [] for name in timed}
    for fn in timed.values():
        fn()
    for _ in range(rounds):
        for name, fn in timed.items():
            deadline = time.perf_counter() + budget_s / rounds
            while not samples[name] or time.perf_counter() < deadline:
                start = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1e3)
                if len(samples[name]) >= 100 * rounds:
                    break
    return {name: quantiles(times) for name, times in samples.items()}


def minimal_bytes(case, x, out, direction):
    """DESIGN.md's minimal bytes. Max-pool both ways counts input + output, as the anchors do."""
    es, n_in, n_out = x.element_size(), x.numel(), out.numel()
    per_direction = {
        "lrn": {"fwd": 2 * n_in, "bwd": 3 * n_in},
        "max_pool2d": {"fwd": n_in + n_out, "bwd": n_in + n_out},
        "add_relu": {"fwd": 3 * n_in, "bwd": 3 * n_in},
    }[case.op]
    if direction == "fwd+bwd":
        return es * (per_direction["fwd"] + per_direction["bwd"])
    return es * per_direction[direction]


def saved_for_backward_bytes(fn, inputs):
    """Bytes of the tensors autograd keeps for backward, other than the op's own inputs."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    own = {t.untyped_storage().data_ptr() for t in inputs}
    return sum(size for ptr, size in storages.items() if ptr not in own)


def peak_extra_mb(fn, device):
    """CUDA only: memory the call allocates at its peak, beyond what was allocated before it."""
    if device.type != "cuda":
        return float("nan")
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def copy_gbps(device, megabytes, budget_s):
    src = torch.randn(megabytes * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    p50, _, _ = time_ms({"copy": lambda: dst.copy_(src)}, device, budget_s)["copy"]
    return 2 * src.numel() * 4 / (p50 * 1e-3) / 1e9


def make_inputs(case, batch, dtype, layout, device):
    shape = (batch, *case.chw)
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    count = 2 if case.op == "add_relu" else 1
    return [torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=fmt) for _ in range(count)]


def prepare(fn, inputs, direction, device):
    """The callable to time for `direction`, the op's output, and the memory it keeps and allocates."""
    if direction == "fwd":
        with torch.no_grad():
            out = fn(*inputs)
            peak = peak_extra_mb(lambda: fn(*inputs), device)

        def timed():
            with torch.no_grad():
                fn(*inputs)

        return timed, out, float("nan"), peak
    leaves = [t.detach().requires_grad_() for t in inputs]
    out = fn(*leaves)
    grad = torch.randn_like(out)
    saved = saved_for_backward_bytes(fn, leaves) / 2**20
    if direction == "bwd":
        timed = lambda: torch.autograd.grad(out, leaves, grad, retain_graph=True)  # noqa: E731
    else:
        timed = lambda: torch.autograd.grad(fn(*leaves), leaves, grad)  # noqa: E731
    return timed, out, saved, peak_extra_mb(timed, device)


def git_commit():
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=root, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=root).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch", type=int, help="images per batch (default: 128 on a GPU, 8 on the CPU)")
    parser.add_argument("--ops", default="lrn,max_pool2d,add_relu")
    parser.add_argument("--dtypes", help="comma-separated, from float32, float16, bfloat16")
    parser.add_argument("--layouts", default="nchw,nhwc")
    parser.add_argument("--directions", help="comma-separated, from fwd, bwd, fwd+bwd")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, help="include torch.compile (default: on a GPU)")
    parser.add_argument("--seconds", type=float, default=0.2, help="CPU: seconds of timing per provider and case")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)

    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    defaults = DEFAULTS[device.type]
    batch = args.batch or defaults["batch"]
    dtypes = [DTYPE_NAMES[d] for d in (args.dtypes or defaults["dtypes"]).split(",")]
    directions = (args.directions or defaults["directions"]).split(",")
    include_compile = defaults["compile"] if args.compile is None else args.compile
    cases = [c for c in CASES if c.op in args.ops.split(",")]
    available = providers.available(device, include_compile)

    torch.manual_seed(0)
    copy = copy_gbps(device, defaults["copy_mb"], args.seconds)
    meta = dict(
        device=device_name(device), torch=torch.__version__, cuda=torch.version.cuda or "",
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), commit=git_commit(),
    )
    print(f"{meta['device']}, torch {meta['torch']}, batch {batch}: copy {copy:.1f} GB/s (read + write)")

    groups = [
        (case, dtype, layout, direction)
        for case in cases for dtype in dtypes for layout in args.layouts.split(",") for direction in directions
    ]
    rows, functions = [], {}
    for case, dtype, layout, direction in tqdm(groups, desc="benchmark", unit="case", dynamic_ncols=True):
        inputs = make_inputs(case, batch, dtype, layout, device)
        prepared = {}
        for name, factory in available.items():
            if providers.supports(name, case, dtype, device):
                fn = functions.setdefault((name, case.op, case.shape_name), factory(case))
                prepared[name] = prepare(fn, inputs, direction, device)
        times = time_ms({name: p[0] for name, p in prepared.items()}, device, args.seconds)
        for name, (_, out, saved, peak) in prepared.items():
            p50, p20, p80 = times[name]
            gbps = minimal_bytes(case, inputs[0], out, direction) / (p50 * 1e-3) / 1e9
            rows.append(dict(
                op=case.op, direction=direction, provider=name, shape_name=case.shape_name,
                shape="x".join(str(d) for d in inputs[0].shape), dtype=str(dtype).removeprefix("torch."),
                layout=layout, ms_p50=p50, ms_p20=p20, ms_p80=p80, gbps=gbps, pct_of_copy=100 * gbps / copy,
                peak_mem_mb=peak, saved_mb=saved, **meta,
            ))
    stem = os.path.join(args.out, f"{report.slug(meta['device'])}-{meta['timestamp'][:10]}")
    os.makedirs(args.out, exist_ok=True)
    report.write_csv(rows, stem + ".csv")
    report.print_table(rows)
    report.chart(rows, stem + ".png", copy)
    print(f"wrote {stem}.csv and {stem}.png")
    return rows
