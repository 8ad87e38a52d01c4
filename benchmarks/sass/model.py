"""From SASS counts to a predicted % of the copy bandwidth on an H200, and the instruction budgets that
follow from the targets. A prediction, not a measurement: the GPU runs settle it.

An SM issues 128 thread-instructions per cycle (4 schedulers x 32 lanes), 64 of them on the ALU pipe
(integer logic, compares, selects) and 16 on the MUFU pipe (rsqrt, ex2, lg2). At the measured copy
bandwidth (4245 GB/s, bytes read + written, 132 SMs at 1.98 GHz: 16.2 bytes per SM-cycle) an op
that moves B bytes per element must therefore issue fewer than 128 * B / 16.2 instructions per
element to keep up, and real kernels reach about EFFICIENCY of the issue rate. So:

    predicted fraction of copy = min(CAP, EFFICIENCY * min(128 / I, 64 / I_alu, 16 / I_mufu) * B / 16.2)

with I, I_alu, I_mufu the steady-state loop's instructions per element. Calibration (the H200 run of
commit 54fa57b against the same counting; benchmarks/results/nvidia-h200-2026-11-26.md): LRN NHWC
forward, 55 instructions per element, predicted 68%, measured 65-69%; LRN NHWC backward, 132,
predicted 43%, measured 38-41%; max-pool NCHW 3x3/2 forward predicted 34-44%, measured 43%; 3x3/1
forward predicted 13-18%, measured 18%. Trust it to about +-25% relative; it ignores occupancy and
latency (a kernel with few warps or few loads in flight per SM does worse) and caches (small shapes
run from L2). Recalibrate EFFICIENCY from each GPU run's measured / predicted.
"""
COPY_BYTES_PER_SM_CYCLE = 4245e9 / (132 * 1.98e9)  # H200, measured (read + write)
ISSUE, ALU_ISSUE, MUFU_ISSUE = 128, 64, 16  # thread-instructions per SM-cycle
EFFICIENCY = 0.6  # the fraction of the issue rate real kernels reach (calibrated, see above)
CAP = 0.97  # nothing beats the copy itself

# The targets (issue 14: H200, inputs of 64 MB and more) per kernel family: fraction of the copy.
TARGETS = {
    ("lrn", "fwd"): 0.90,
    ("lrn", "bwd"): 0.85,
    ("max_pool2d", "fwd"): 0.85,
    ("max_pool2d", "bwd"): 0.80,
    ("add_relu", "fwd"): 0.95,
    ("add_relu", "bwd"): 0.95,
}


def predicted_fraction(per_element, alu_per_element, mufu_per_element, bytes_per_element):
    """The model (module docstring): the fraction of the copy bandwidth a kernel reaches."""
    rate = min(ISSUE / per_element, ALU_ISSUE / alu_per_element if alu_per_element else float("inf"),
               MUFU_ISSUE / mufu_per_element if mufu_per_element else float("inf"))
    return min(CAP, EFFICIENCY * rate * bytes_per_element / COPY_BYTES_PER_SM_CYCLE)


def budget(target, bytes_per_element):
    """The most instructions per element (issue-bound) at which the model still predicts `target`."""
    return EFFICIENCY * ISSUE * bytes_per_element / (COPY_BYTES_PER_SM_CYCLE * target)
