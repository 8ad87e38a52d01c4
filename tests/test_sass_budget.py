"""The instruction budget (issues 14 and 15), checked without a GPU: every kernel the benchmark's shapes
run on inputs of 64 MB and more, the CUDA kernels and the Triton ones, must be predicted, from its sm_90
SASS, at its family's target % of the copy bandwidth or better (benchmarks/sass: model.py holds the
targets and the model, report.py the rows), and no kernel may use a stack frame (spills). A change that
makes a kernel slower on paper fails here; the GPU runs (benchmarks/results) say how good the paper is."""
import pytest

from benchmarks.sass import cuda_kernels, report

# Triton kernels known to miss the budget, still to be rebuilt (issue 15): (op, direction, layout, dtype),
# dtype None for all. Listed so that they stay visible; an entry that meets the budget fails the test
# until it is removed from here.
KNOWN_TRITON_MISSES = {
    ("lrn", "fwd", "nchw", "bfloat16"): "alexnet.lrn1: S = 3025 rows not 16-byte aligned, scalar loads (~28 ins/el)",
    ("lrn", "fwd", "nhwc", "bfloat16"): "tile kernel re-reads shifted, unaligned tiles (~36 ins/el, budget 21)",
    ("lrn", "bwd", "nchw", None): "tile kernel, SIZE shifted windows recomputed per channel (~200 ins/el)",
    ("lrn", "bwd", "nhwc", None): "tile kernel, shifted unaligned tiles (~206 ins/el, 164 loads per 8 elements)",
    ("max_pool2d", "fwd", "nchw", None): "stride-2 scalar loads, masks per tap (3x3/2: ~130 ins/el)",
    ("max_pool2d", "fwd", "nhwc", None): "3x3/1 (googlenet.pool3a) and bf16 3x3/2: compare/select per tap",
    ("max_pool2d", "bwd", "nchw", None): "div/mod per element, gathers of covering windows (106-318 ins/el)",
    ("max_pool2d", "bwd", "nhwc", None): "gathers of argmax and dy per covering window (25-116 ins/el)",
}


def unavailable_reason(backend):
    if backend == "cuda":
        return cuda_kernels.unavailable_reason()
    try:
        from benchmarks.sass import triton_kernels
    except ImportError as error:
        return f"needs Triton ({error})"
    return triton_kernels.unavailable_reason()


@pytest.fixture(scope="module", params=["cuda", "triton"])
def large(request):
    """(backend, the report's rows for inputs of 64 MB and more)."""
    reason = unavailable_reason(request.param)
    if reason:
        pytest.skip(f"the static SASS report ({request.param}) {reason}")
    # Triton: fp32 and bf16 (fp16's kernels are bf16's but for the conversions; each specialisation
    # compiles for seconds). The CUDA kernels are read from the built extension: every dtype.
    dtypes = ("float32", "bfloat16") if request.param == "triton" else ("float32", "bfloat16", "float16")
    return request.param, report.rows(dtypes=dtypes, backends=(request.param,), min_input_bytes=report.BIG)


def known_miss(row):
    return row.backend == "triton" and any(
        (row.op, row.direction, row.layout) == key[:3] and key[3] in (None, row.dtype) for key in KNOWN_TRITON_MISSES)


def test_every_large_case_is_predicted_at_its_target(large, capsys):
    backend, found = large
    with capsys.disabled():  # CI's log keeps the predictions (a prediction, not a measurement)
        print(f"\nstatic SASS report, {backend}, inputs of 64 MB and more (predicted, sm_90):")
        report.print_table(found)
    assert {(r.op, r.direction) for r in found} == set(report.model.TARGETS), "a kernel family has no large case"
    over = [f"{r.op} {r.direction} {r.shape_name} {r.dtype} {r.layout}: {r.instructions_per_element:.1f} instructions"
            f" per element (budget {r.budget_per_element:.1f}), predicted {r.predicted_pct_of_copy:.0f}% of copy,"
            f" target {r.target_pct_of_copy:.0f}% ({r.kernel})" for r in found if not r.within_budget and not known_miss(r)]
    assert not over, "over the instruction budget:\n" + "\n".join(over)
    if backend == "triton":
        stale = [key for key in KNOWN_TRITON_MISSES
                 if not any(known_miss(r) and not r.within_budget and (r.op, r.direction, r.layout) == key[:3]
                            and key[3] in (None, r.dtype) for r in found)]
        assert not stale, f"within the budget now: remove from KNOWN_TRITON_MISSES: {stale}"


def test_no_kernel_spills(large):
    backend, found = large
    if backend == "cuda":
        spilling = {name: k.stack_bytes for name, k in cuda_kernels.compiled().items() if k.stack_bytes}
    else:
        spilling = {r.kernel: r.stack_bytes for r in found if r.stack_bytes}
    assert not spilling, f"kernels with a stack frame (spills), bytes: {spilling}"
