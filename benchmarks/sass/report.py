"""The static report: for every case of the kernel benchmark (benchmarks/shapes.py, batch 128 as on a
GPU), the CUDA kernel the launchers pick, compiled for sm_90 with the build's flags, and what its
steady-state loop spends per element, with the model's predicted % of the copy bandwidth and the
budget its family's target allows (model.py). No GPU needed."""
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


def blocks_per_sm(registers, threads=256):
    """Blocks of `threads` an H100/H200 SM holds by registers (allocated 8 at a time per thread)."""
    per_thread = max(8, -(-registers // 8) * 8)
    return min(2048 // threads, 65536 // (per_thread * threads))


def rows(dtypes=("float32", "bfloat16", "float16"), layouts=("nchw", "nhwc"), directions=("fwd", "bwd"), ops=None):
    found = []
    for case in CASES:
        if ops and case.op not in ops:
            continue
        for dtype in dtypes:
            for layout in layouts:
                for direction in directions:
                    call, stored, minimal = launcher_call(case, dtype, layout, direction)
                    for name, _grid, _block in cuda_kernels.launches(call):
                        kernel = cuda_kernels.kernel(name)
                        counts = sass.count(kernel.instructions)
                        per_iteration = counts.store_bytes / ELEMENT_SIZE[dtype]  # elements stored per iteration
                        bytes_per_element = minimal / stored
                        per = [v / per_iteration for v in (counts.instructions, counts.alu, counts.mufu)]
                        target = model.TARGETS[(case.op, direction)]
                        found.append(Row(
                            op=case.op, direction=direction, shape_name=case.shape_name, dtype=dtype, layout=layout,
                            kernel=name, registers=kernel.registers, stack_bytes=kernel.stack_bytes,
                            blocks_per_sm=blocks_per_sm(kernel.registers), instructions_per_element=per[0],
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
    print(f"{'op':<11}{'dir':<4}{'shape':<17}{'dtype':<9}{'layout':<6}{'regs':>5}{'stack':>6}{'blk':>4}{'ins/el':>8}{'alu':>6}"
          f"{'mufu':>6}{'edge':>6}{'ldg':>4}{'budget':>8}{'pred%':>7}{'target':>7}  kernel")
    for r in found:
        flag = "" if r.within_budget else "  OVER"
        print(f"{r.op:<11}{r.direction:<4}{r.shape_name:<17}{r.dtype:<9}{r.layout:<6}{r.registers:>5}"
              f"{r.stack_bytes:>6}{r.blocks_per_sm:>4}{r.instructions_per_element:>8.1f}{r.alu_per_element:>6.1f}"
              f"{r.mufu_per_element:>6.2f}{r.edge_per_element:>6.1f}{r.loads_per_iteration:>4}{r.budget_per_element:>8.1f}"
              f"{r.predicted_pct_of_copy:>7.0f}{r.target_pct_of_copy:>7.0f}  {r.kernel}{flag}")
