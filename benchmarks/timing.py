"""Timing and run metadata shared by the kernel and model benchmarks."""
import datetime
import os
import statistics
import subprocess
import time

import torch

try:
    from tqdm import tqdm as progress
except ImportError:  # a bare GPU machine: no progress bar, same results
    def progress(iterable, **_):
        return iterable


# A measurement whose p80/p20 exceeds this was disturbed (another process, a scheduler slice, page
# faults): the case is measured again, and a row still this spread is flagged noisy.
NOISY_SPREAD = {"cpu": 1.5, "cuda": 1.2}


def spread(p20, p80):
    return p80 / p20 if p20 > 0 else float("inf")


def quantiles(times_ms):
    q = statistics.quantiles(times_ms, n=10, method="inclusive") if len(times_ms) > 1 else times_ms * 9
    return statistics.median(times_ms), q[1], q[7]


def time_ms(timed, device, budget_s):
    """{name: (p50, p20, p80)} of one call of each callable in ms, after warm-up. On the CPU the
    callables take turns, in rounds, so a slow spell of a shared machine hits them all alike."""
    if device.type == "cuda":
        from triton.testing import do_bench

        # do_bench flushes the L2 cache before each call: small tensors are timed from memory too.
        return {name: tuple(do_bench(fn, warmup=5, rep=30, quantiles=[0.5, 0.2, 0.8])) for name, fn in timed.items()}
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


def copy_gbps(device, megabytes, budget_s, repeats=3):
    """The device-to-device copy bandwidth (bytes read + written per second, in GB/s): the best of
    `repeats` measurements, so a disturbed one does not lower the reference every kernel is held to."""
    src = torch.randn(megabytes * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    best = min(time_ms({"copy": lambda: dst.copy_(src)}, device, budget_s)["copy"][0] for _ in range(repeats))
    return 2 * src.numel() * 4 / (best * 1e-3) / 1e9


def git_commit():
    """The commit measured: CNNKERNELS_COMMIT if set (a copy of the tree whose .git is missing or
    stale, as on a GPU machine), else git's HEAD, marked -dirty with uncommitted changes."""
    if os.environ.get("CNNKERNELS_COMMIT"):
        return os.environ["CNNKERNELS_COMMIT"]
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

        def git(*args, check=False):
            return subprocess.run(["git", *args], capture_output=True, text=True, cwd=root, check=check).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD", check=True)
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def run_metadata(device):
    """The CSV columns that say where and when a row was measured."""
    return dict(
        device=device_name(device), torch=torch.__version__, cuda=torch.version.cuda or "",
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), commit=git_commit(),
    )
