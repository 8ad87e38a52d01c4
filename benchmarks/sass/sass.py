"""Reading SASS: a kernel's instructions, its steady-state loop, and what that loop spends per element.

The steady-state loop is the innermost loop (a backward branch) that stores to global memory, the one
that stores the most bytes per iteration; a kernel without such a loop is taken whole. Kernels keep
their edges (first and last chunks, partial tiles, bounds checks) in loops of their own, the same
work with checks: of the loops that store the most, the steady state is the cheapest, and the
costliest is reported beside it (edge_instructions). Each instruction of the loop is counted once per
iteration (a branch inside it is counted as if taken: an upper bound for the common path), and by
the pipe that issues it: the ALU pipe (integer and compare/select: half the issue rate of the
others), FMA, MUFU (special functions), memory, control.
"""
import dataclasses
import re

# The ALU pipe: integer logic, compares and selects (64 lanes per SM-cycle on Hopper, half of issue).
ALU = {"IADD3", "LOP3", "ISETP", "FSETP", "FSEL", "SEL", "FMNMX", "SHF", "LEA", "PLOP3", "IABS", "PRMT", "LOP",
       "VIADD", "IMNMX", "VIMNMX", "FSET", "ISET", "P2R", "R2P", "FCHK", "SGXT", "BMSK", "HSETP2", "HMNMX2", "F2FP",
       "VIMNMX3", "IADD", "FMNMX3"}
FMA = {"FFMA", "FADD", "FMUL", "IMAD", "HFMA2", "HADD2", "HMUL2", "MOV", "FMUL2", "FFMA2", "FADD2", "IMAD.WIDE"}
MEMORY = {"LDG", "STG", "LDS", "STS", "LD", "ST", "LDL", "STL", "ATOM", "ATOMG", "RED", "REDG", "LDGSTS", "UBLKCP",
          "SYNCS", "LDC"}
CONTROL = {"BRA", "BSSY", "BSYNC", "EXIT", "CALL", "RET", "WARPSYNC", "BREAK", "JMP", "NOP", "BAR", "YIELD", "BPT"}
CONVERSION = {"F2F", "I2F", "F2I", "I2FP", "F2IP", "FRND", "POPC", "FLO", "BREV"}
STORE_BYTES = {"U8": 1, "S8": 1, "U16": 2, "S16": 2, "64": 8, "128": 16}


@dataclasses.dataclass
class LoopCounts:
    """What one iteration of the steady-state loop issues (per thread)."""
    instructions: int
    alu: int
    mufu: int
    loads: int  # LDG instructions: the loads a thread can have in flight per iteration
    store_bytes: int  # bytes the iteration stores to global memory
    calls: int  # CALLs (a slow path, e.g. IEEE division's): each is more instructions than counted
    whole_kernel: bool  # no loop stores: the kernel counted whole
    edge_instructions: int  # the costliest loop that stores as much (the edges' path), per iteration


def parse(text):
    """[(address, instruction)] of one function's SASS (cuobjdump -sass), predicate included."""
    found = []
    for line in text.splitlines():
        m = re.search(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
        if m:
            found.append((int(m.group(1), 16), m.group(2).strip()))
    return found


def opcode(instruction):
    """'@!P0 LDG.E.128 R4, [R2.64]' -> 'LDG.E.128'."""
    return re.sub(r"^@!?U?P[T0-9]+\s+", "", instruction).split()[0]


def pipe(op):
    base = op.split(".")[0]
    if base in MEMORY:
        return "memory"
    if base == "MUFU":
        return "mufu"
    if base in CONVERSION:
        return "conversion"
    if base in ALU:
        return "alu"
    if base in FMA or op in FMA:
        return "fma"
    if base in CONTROL:
        return "control"
    if base.startswith("U") or base in ("S2R", "S2UR", "R2UR", "CS2R"):
        return "uniform"
    return "other"


def store_bytes(op):
    """Bytes an STG stores: STG.E (4), STG.E.64, STG.E.128, STG.E.U8, STG.E.U16 ..."""
    for suffix in reversed(op.split(".")[1:]):
        if suffix in STORE_BYTES:
            return STORE_BYTES[suffix]
    return 4


def loops(instructions):
    """(first address, branch address) of every loop: a branch back to an earlier address."""
    found = []
    for address, text in instructions:
        if opcode(text) == "BRA":
            m = re.search(r"0x([0-9a-f]+)", text.split("BRA", 1)[1])
            if m and int(m.group(1), 16) <= address:
                found.append((int(m.group(1), 16), address))
    return found


def steady_loop(instructions):
    """The steady-state loop's instructions (module docstring), whether the kernel had to be taken
    whole, and the costliest loop storing as much (the edges')."""
    def stored(lo, hi):
        return sum(store_bytes(opcode(t)) for a, t in instructions if lo <= a <= hi and opcode(t).startswith("STG"))

    candidates = [(lo, hi) for lo, hi in loops(instructions) if stored(lo, hi) > 0]
    innermost = [(lo, hi) for lo, hi in candidates
                 if not any(lo <= lo2 and hi2 <= hi and (lo2, hi2) != (lo, hi) for lo2, hi2 in candidates)]
    if not innermost:
        return instructions, True, instructions
    most = max(stored(*loop) for loop in innermost)
    storing_most = sorted((loop for loop in innermost if stored(*loop) == most), key=lambda loop: loop[1] - loop[0])

    def body(loop):
        return [(a, t) for a, t in instructions if loop[0] <= a <= loop[1]]

    return body(storing_most[0]), False, body(storing_most[-1])


def count(instructions):
    """LoopCounts of the steady-state loop of one kernel's SASS instructions."""
    body, whole, edge = steady_loop(instructions)
    ops = [opcode(t) for _, t in body]
    pipes = [pipe(op) for op in ops]
    return LoopCounts(
        instructions=len(ops), alu=pipes.count("alu"), mufu=pipes.count("mufu"),
        loads=sum(op.startswith("LDG") for op in ops),
        store_bytes=sum(store_bytes(op) for op in ops if op.startswith("STG")),
        calls=sum(op.startswith("CALL") for op in ops), whole_kernel=whole, edge_instructions=len(edge),
    )
