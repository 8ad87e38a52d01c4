"""Kernel benchmark: every op on the networks' shapes, every provider, forward and backward, timed
against a device-to-device copy measured in the same run."""
import time

import torch

from . import providers
from .shapes import CASES
from .timing import NOISY_SPREAD, peak_extra_mb, progress, spread, time_ms


def minimal_bytes(case, x, out, direction):
    """The least an op must move: LRN forward reads x and writes y, its backward reads x and dy and
    writes dx; max-pool counts input + output both ways (as the peers' published figures do); add+ReLU
    forward reads two tensors and writes one, its backward reads dy and a bit mask (one bit per
    element) and writes dx."""
    es, n_in, n_out = x.element_size(), x.numel(), out.numel()
    per_direction = {
        "lrn": {"fwd": 2 * es * n_in, "bwd": 3 * es * n_in},
        "max_pool2d": {"fwd": es * (n_in + n_out), "bwd": es * (n_in + n_out)},
        "add_relu": {"fwd": 3 * es * n_in, "bwd": 2 * es * n_in + (n_in + 7) // 8},
    }[case.op]
    if direction == "fwd+bwd":
        return per_direction["fwd"] + per_direction["bwd"]
    return per_direction[direction]


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


def make_inputs(case, batch, dtype, layout, device):
    shape = (batch, *case.chw)
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    count = 2 if case.op == "add_relu" else 1
    return [torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=fmt) for _ in range(count)]


def prepare(fn, inputs, direction, grad, device):
    """The callable to time for `direction` (backward: against `grad`), the op's output, the memory
    it keeps and allocates, and its result (forward output or first input's gradient)."""
    if direction == "fwd":
        with torch.no_grad():
            out = fn(*inputs)
            peak = peak_extra_mb(lambda: fn(*inputs), device)

        def timed():
            with torch.no_grad():
                return fn(*inputs)

        return timed, out, float("nan"), peak, out
    leaves = [t.detach().requires_grad_() for t in inputs]
    out = fn(*leaves)
    saved = saved_for_backward_bytes(fn, leaves) / 2**20
    if direction == "bwd":
        timed = lambda: torch.autograd.grad(out, leaves, grad, retain_graph=True)  # noqa: E731
    else:
        timed = lambda: torch.autograd.grad(fn(*leaves), leaves, grad)  # noqa: E731
    return timed, out, saved, peak_extra_mb(timed, device), timed()[0]


def relative_error(result, reference):
    """||result - reference|| / ||reference||, against PyTorch's op in float64: a provider that
    computes the wrong function shows here."""
    diff, ref = (result.double() - reference.double()).norm(), reference.double().norm()
    return (diff / ref).item() if ref > 0 else diff.item()


def reference_result(fn, inputs, direction, grad):
    """What each provider's result is compared with: `fn` (PyTorch's op, on float64 inputs) forward,
    or for the backward directions the gradient of the first input."""
    if direction == "fwd":
        with torch.no_grad():
            return fn(*inputs)
    leaves = [t.detach().requires_grad_() for t in inputs]
    return torch.autograd.grad(fn(*leaves), leaves[0], grad)[0]


def measure(prepared, x, device, budget_s, attempts=3):
    """Times the prepared providers of one case together (taking turns, so a disturbance hits them all)
    and, on the CPU, a copy of the case's input among them: the copy bandwidth at that size (the same
    cache level the case runs from). A measurement with a provider (or the copy) spread beyond
    NOISY_SPREAD is taken again, up to `attempts` times; the least spread one is kept. Returns
    ({name: (p50, p20, p80)}, the copy's GB/s or None on a GPU)."""
    timed = {name: p[0] for name, p in prepared.items()}
    if device.type == "cpu":
        dst = torch.empty_like(x)
        timed["copy"] = lambda: dst.copy_(x)
    best = None
    for _ in range(attempts):
        times = time_ms(timed, device, budget_s)
        worst = max(spread(p20, p80) for _, p20, p80 in times.values())
        if best is None or worst < best[0]:
            best = (worst, times)
        if worst <= NOISY_SPREAD[device.type]:
            break
    times = best[1]
    case_copy = 2 * x.numel() * x.element_size() / (times["copy"][0] * 1e-3) / 1e9 if "copy" in times else None
    return times, case_copy


def run(settings, device, meta, copy, skip=frozenset()):
    """Rows of the kernel benchmark: every case x dtype x layout x direction, every provider (but
    those in `skip`), and the failures."""
    # torch.compile recompiles per shape, dtype, layout and grad mode: keep every one compiled.
    torch._dynamo.config.recompile_limit = 1024
    torch._dynamo.config.accumulated_recompile_limit = 1 << 16
    available = {n: f for n, f in providers.available(device, settings.compile).items()
                 if (settings.providers is None or n in settings.providers) and n not in skip}
    cases = [c for c in CASES if c.op in settings.ops]
    groups = [  # dtype outermost: a run cut short by --time-limit still has every op
        (case, dtype, layout, direction)
        for dtype in settings.dtypes
        for case in cases
        for layout in settings.layouts
        for direction in settings.directions
    ]
    rows, functions, failures = [], {}, []
    for case, dtype, layout, direction in progress(groups, desc="kernels", unit="case", dynamic_ncols=True):
        if time.perf_counter() > settings.deadline:
            print(f"time limit reached: {len(rows)} rows, the remaining cases not timed")
            break
        inputs = make_inputs(case, settings.batch, dtype, layout, device)
        inputs64 = [t.double() for t in inputs]
        with torch.no_grad():
            grad = torch.randn_like(providers.torch_op(case)(*inputs64)).to(dtype)  # dy of every backward
        expected = reference_result(providers.torch_op(case), inputs64, direction, grad.double())
        prepared = {}
        for name, factory in available.items():
            if not providers.supports(name, case, dtype, device):
                continue
            fn = functions.setdefault((name, case.op, case.shape_name), factory(case))
            try:
                prepared[name] = prepare(fn, inputs, direction, grad, device)
            except Exception as e:  # one provider failing on one case: say so loudly, time the others
                failures.append(f"{name} on {case.shape_name} {dtype} {layout} {direction}: {type(e).__name__}: {e}")
                print("FAILED " + failures[-1])
        times, case_copy = measure(prepared, inputs[0], device, settings.seconds)
        ceiling = case_copy or copy  # GB/s of the copy each row's % is of
        # The case's copy disturbed, or slower than the run's large copy (which a copy of fewer bytes,
        # from a nearer cache, is not): the machine was busy while this case was timed.
        copy_disturbed = "copy" in times and (spread(*times["copy"][1:]) > NOISY_SPREAD[device.type]
                                              or case_copy < 0.5 * copy)
        for name, (_, out, saved, peak, result) in prepared.items():
            p50, p20, p80 = times[name]
            gbps = minimal_bytes(case, inputs[0], out, direction) / (p50 * 1e-3) / 1e9
            noisy = copy_disturbed or spread(p20, p80) > NOISY_SPREAD[device.type]
            rows.append(dict(
                op=case.op, direction=direction, provider=name, shape_name=case.shape_name,
                shape="x".join(str(d) for d in inputs[0].shape), dtype=str(dtype).removeprefix("torch."),
                layout=layout, ms_p50=p50, ms_p20=p20, ms_p80=p80, spread=spread(p20, p80), noisy=int(noisy),
                gbps=gbps, pct_of_copy=100 * gbps / ceiling, copy_gbps=ceiling, peak_mem_mb=peak, saved_mb=saved,
                rel_err=relative_error(result, expected), **meta,
            ))
    return rows, failures
