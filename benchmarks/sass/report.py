"""The static report: for every case of the kernel benchmark (benchmarks/shapes.py, batch 128 as on a
GPU), the CUDA kernel the launchers pick, compiled for sm_90 with the build's flags, and the Triton
kernel(s) the Triton launchers run, compiled for sm_90 by Triton's compiler (triton_kernels.py), side
by side (the backend column); for each, what its steady-state loop spends per element, with the model's
predicted % of the copy bandwidth and the budget its family's target allows (model.py). No GPU needed."""
import dataclasses
import datetime

from ..shapes import CASES
from ..timing import git_commit
from . import cuda_kernels, model, sass
from .emulation import DTYPE_CODE

BATCH = 128
ELEMENT_SIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
BIG = 64 * 2**20  # the targets are for inputs of 64 MB and more (issue 14)


@dataclasses.dataclass
class Row:
    op: str
    direction: str
    shape_name: str
    dtype: str
    layout: str
    backend: str  # "cuda" or "triton"
    kernel: str
    registers: int
    stack_bytes: int
    blocks_per_sm: int
    instructions_per_element: float
    alu_per_element: float
    mufu_per_element: float
    edge_per_element: float  # the edges' loop (sass.py), instructions per element
    loads_per_iteration: int
    bytes_per_element: float
    predicted_pct_of_copy: float
    target_pct_of_copy: float
    budget_per_element: float
    input_mb: float

    @property
    def within_budget(self):
        return self.predicted_pct_of_copy >= self.target_pct_of_copy - 1e-9


def pooled(n, kernel, stride, padding, ceil_mode):
    from cnnkernels.contracts.max_pool2d import output_size

    return output_size(n, kernel, stride, padding, 1, ceil_mode)


def launcher_call(case, dtype, layout, direction):
    """(the call that runs the case's launcher, elements the kernel stores, minimal bytes): the
    benchmark's definition of the minimal bytes (benchmarks/kernels.py)."""
    code, es = DTYPE_CODE[dtype], ELEMENT_SIZE[dtype]
    cl = int(layout == "nhwc")
    C, H, W = case.chw
    n_in = BATCH * C * H * W
    p = case.params
    if case.op == "lrn":
        args = (BATCH, C, H * W, cl, p["size"], p["alpha"] / p["size"], p["beta"], p["k"])
        if direction == "fwd":
            return (lambda lib: lib.lrn_forward_c(code, None, None, *args)), n_in, 2 * es * n_in
        return (lambda lib: lib.lrn_backward_c(code, None, None, None, *args)), n_in, 3 * es * n_in
    if case.op == "max_pool2d":
        k, s, pad, ceil = p["kernel_size"], p["stride"], p["padding"], p["ceil_mode"]
        OH, OW = pooled(H, k, s, pad, ceil), pooled(W, k, s, pad, ceil)
        geometry = (BATCH, C, H, W, OH, OW, cl, k, k, s, s, pad, pad, 1, 1)
        n_out = BATCH * C * OH * OW
        if direction == "fwd":  # inference: no argmax
            return (lambda lib: lib.max_pool2d_forward_c(code, None, None, None, 1, *geometry)), n_out, es * (
                n_in + n_out)
        return (lambda lib: lib.max_pool2d_backward_c(code, None, None, 1, None, *geometry)), n_in, es * (n_in + n_out)
    if direction == "fwd":
        return (lambda lib: lib.add_relu_forward_c(code, None, None, None, None, n_in)), n_in, 3 * es * n_in
    return (lambda lib: lib.add_relu_backward_c(code, None, None, None, n_in)), n_in, 2 * es * n_in + (n_in + 7) // 8


def blocks_per_sm(registers, threads=256, shared_bytes=0):
    """Blocks of `threads` an H100/H200 SM holds: by registers (allocated 8 at a time per thread), by
    threads, at most 32, and by shared memory (228 KB, 1 KB reserved per block)."""
    per_thread = max(8, -(-registers // 8) * 8)
    by_shared = 233472 // (shared_bytes + 1024) if shared_bytes else 32
    return min(32, 2048 // threads, 65536 // (per_thread * threads), by_shared)


def triton_launches(case, dtype, layout, direction):
    """The launches the Triton launcher makes for the case (triton_kernels.py: on meta tensors)."""
    import torch

    from . import triton_kernels as tk

    dt = getattr(torch, dtype)
    fmt = torch.channels_last if layout == "nhwc" else torch.contiguous_format
    x = tk.meta((BATCH, *case.chw), dt, fmt)
    p = case.params
    if case.op == "lrn":
        scalars = (p["size"], p["alpha"], p["beta"], p["k"])
        if direction == "fwd":
            return tk.launches_of(tk.lrn.lrn_forward_triton, x, *scalars)
        return tk.launches_of(tk.lrn.lrn_backward_triton, x, x, *scalars)
    if case.op == "max_pool2d":
        k, s, pad, ceil = p["kernel_size"], p["stride"], p["padding"], p["ceil_mode"]
        window = ([k, k], [s, s], [pad, pad], [1, 1])
        if direction == "fwd":  # inference: no argmax
            return tk.launches_of(tk.max_pool2d.max_pool2d_forward_triton, x, *window, ceil, False)
        C, H, W = case.chw
        dy = tk.meta((BATCH, C, pooled(H, k, s, pad, ceil), pooled(W, k, s, pad, ceil)), dt, fmt)
        return tk.launches_of(tk.max_pool2d.max_pool2d_backward_triton, dy, tk.meta(dy.shape, torch.uint8, fmt), H, W,
                              *window, layout == "nhwc")
    if direction == "fwd":  # inference: no mask
        return tk.launches_of(tk.add_relu.add_relu_triton, x, x, False)
    mask = tk.meta(((x.numel() + 7) // 8,), torch.uint8)
    return tk.launches_of(tk.add_relu.add_relu_backward_triton, x, mask, list(x.stride()))


def kernels_of(backend, case, dtype, layout, direction, call):
    """[(name, Kernel, threads per block, shared memory bytes)] the case runs on that backend."""
    if backend == "cuda":
        return [(name, cuda_kernels.kernel(name), block, 0) for name, _grid, block in cuda_kernels.launches(call)]
    from . import triton_kernels

    found = []
    for launch in triton_launches(case, dtype, layout, direction):
        c = triton_kernels.compiled(launch)
        found.append((c.name, c.kernel, c.threads, c.shared_bytes))
    return found


def rows(dtypes=("float32", "bfloat16", "float16"), layouts=("nchw", "nhwc"), directions=("fwd", "bwd"), ops=None,
         backends=("cuda", "triton"), min_input_bytes=0):
    """The report's rows: every case, dtype, layout, direction and backend asked for, with inputs of at
    least min_input_bytes (BIG: the budget's cases)."""
    found = []
    for case in CASES:
        if ops and case.op not in ops:
            continue
        for dtype in dtypes:
            if BATCH * case.chw[0] * case.chw[1] * case.chw[2] * ELEMENT_SIZE[dtype] < min_input_bytes:
                continue
            for layout in layouts:
                for direction in directions:
                    call, stored, minimal = launcher_call(case, dtype, layout, direction)
                    for backend, (name, kernel, threads, shared) in (
                            (b, k) for b in backends for k in kernels_of(b, case, dtype, layout, direction, call)):
                        counts = sass.count(kernel.instructions)
                        per_iteration = counts.store_bytes / ELEMENT_SIZE[dtype]  # elements stored per iteration
                        bytes_per_element = minimal / stored
                        per = [v / per_iteration for v in (counts.instructions, counts.alu, counts.mufu)]
                        target = model.TARGETS[(case.op, direction)]
                        found.append(Row(
                            op=case.op, direction=direction, shape_name=case.shape_name, dtype=dtype, layout=layout,
                            backend=backend, kernel=name, registers=kernel.registers, stack_bytes=kernel.stack_bytes,
                            blocks_per_sm=blocks_per_sm(kernel.registers, threads, shared), instructions_per_element=per[0],
                            alu_per_element=per[1], mufu_per_element=per[2],
                            edge_per_element=counts.edge_instructions / per_iteration, loads_per_iteration=counts.loads,
                            bytes_per_element=bytes_per_element,
                            predicted_pct_of_copy=100 * model.predicted_fraction(*per, bytes_per_element),
                            target_pct_of_copy=100 * target,
                            budget_per_element=model.budget(target, bytes_per_element),
                            input_mb=BATCH * case.chw[0] * case.chw[1] * case.chw[2] * ELEMENT_SIZE[dtype] / 2**20,
                        ))
    return found


def write_csv(found, path):
    import csv

    meta = {"date": datetime.date.today().isoformat(), "commit": git_commit(), "arch": "sm_90"}
    fields = [f.name for f in dataclasses.fields(Row)] + ["within_budget", *meta]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in found:
            values = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in dataclasses.asdict(row).items()}
            writer.writerow({**values, "within_budget": int(row.within_budget), **meta})


def print_table(found):
    print(f"{'op':<11}{'dir':<4}{'shape':<17}{'dtype':<9}{'layout':<7}{'bknd':<7}{'regs':>5}{'stack':>6}{'blk':>4}{'ins/el':>8}{'alu':>6}"
          f"{'mufu':>6}{'edge':>6}{'ldg':>4}{'budget':>8}{'pred%':>7}{'target':>7}  kernel")
    for r in found:
        flag = "" if r.within_budget else "  OVER"
        print(f"{r.op:<11}{r.direction:<4}{r.shape_name:<17}{r.dtype:<9}{r.layout:<7}{r.backend:<7}{r.registers:>5}"
              f"{r.stack_bytes:>6}{r.blocks_per_sm:>4}{r.instructions_per_element:>8.1f}{r.alu_per_element:>6.1f}"
              f"{r.mufu_per_element:>6.2f}{r.edge_per_element:>6.1f}{r.loads_per_iteration:>4}{r.budget_per_element:>8.1f}"
              f"{r.predicted_pct_of_copy:>7.0f}{r.target_pct_of_copy:>7.0f}  {r.kernel}{flag}")


def print_markdown_summary(found):
    """README's table of predictions: per op, direction, layout and dtype class, over the cases with inputs
    of 64 MB and more, each backend's predicted % of copy (range) and instructions per element against
    the target; "short" where a case misses it."""
    groups = {}
    for r in found:
        if r.input_mb * 2**20 >= BIG:
            width = "fp32" if r.dtype == "float32" else "fp16/bf16"
            groups.setdefault((r.op, r.direction, r.layout, width), []).append(r)

    def span(values):
        lo, hi = f"{min(values):.0f}", f"{max(values):.0f}"
        return lo if lo == hi else f"{lo}–{hi}"

    print("| op | dir | layout | dtype | target | CUDA: predicted % of copy (instructions/element, budget) |"
          " Triton: predicted % of copy (instructions/element) |")
    print("|---|---|---|---|---|---|---|")
    for (op, direction, layout, width), rs in sorted(groups.items()):
        cells = []
        for backend in ("cuda", "triton"):
            bs = [r for r in rs if r.backend == backend]
            if not bs:
                cells.append("–")
                continue
            short = "" if all(r.within_budget for r in bs) else " **short**"
            budget = f", budget {span([r.budget_per_element for r in bs])}" if backend == "cuda" else ""
            cells.append(f"{span([r.predicted_pct_of_copy for r in bs])}%{short}"
                         f" ({span([r.instructions_per_element for r in bs])}{budget})")
        print(f"| {op} | {direction} | {layout} | {width} | {rs[0].target_pct_of_copy:.0f}% | {cells[0]} | {cells[1]} |")
