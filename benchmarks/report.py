"""The benchmark's outputs: long-format CSV, a table with speed-ups over PyTorch, and a chart."""
import csv
import math
import re
from collections import defaultdict

COLUMNS = [
    "op", "direction", "provider", "shape_name", "shape", "dtype", "layout", "ms_p50", "ms_p20", "ms_p80",
    "gbps", "pct_of_copy", "peak_mem_mb", "saved_mb", "rel_err", "device", "torch", "cuda", "timestamp", "commit",
    "img_per_s", "first_step_s",
]
NUMERIC = {"ms_p50", "ms_p20", "ms_p80", "gbps", "pct_of_copy", "peak_mem_mb", "saved_mb", "rel_err", "img_per_s",
           "first_step_s"}
BASELINE = "torch-eager"


def slug(device):
    """'NVIDIA H200' -> 'nvidia-h200', 'cpu (2 threads)' -> 'cpu'."""
    return re.sub(r"[^a-z0-9]+", "-", device.split("(")[0].lower()).strip("-")


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items() if k in COLUMNS})


def read_csv(path):
    """Rows as write_csv wrote them, numbers as floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key in NUMERIC and value != "":
                row[key] = float(value)
    return rows


def _groups(rows):
    groups = defaultdict(dict)
    for r in rows:
        groups[(r["op"], r["shape_name"], r["dtype"], r["layout"], r["direction"])][r["provider"]] = r
    return groups


def speedups(rows):
    """{(op, direction, provider): [speed-up over torch-eager per case]} for every other provider."""
    result = defaultdict(list)
    for (op, _, _, _, direction), by_provider in _groups(rows).items():
        if BASELINE not in by_provider:
            continue
        for name, r in by_provider.items():
            if name != BASELINE:
                result[(op, direction, name)].append(by_provider[BASELINE]["ms_p50"] / r["ms_p50"])
    return result


def print_table(rows):
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    head = f"{'op':<11}{'shape':<17}{'dtype':<9}{'layout':<7}{'dir':<8}" + "".join(f"{p:>24}" for p in providers)
    print("\nms (p50) and % of copy bandwidth; x = speed-up over " + BASELINE)
    print(head)
    for (op, shape, dtype, layout, direction), by_provider in _groups(rows).items():
        cells = []
        for p in providers:
            r = by_provider.get(p)
            if r is None:
                cells.append(f"{'-':>24}")
                continue
            cell = f"{r['ms_p50']:.3f} {r['pct_of_copy']:.0f}%"
            if p != BASELINE and BASELINE in by_provider:
                cell += f" {by_provider[BASELINE]['ms_p50'] / r['ms_p50']:.2f}x"
            cells.append(f"{cell:>24}")
        print(f"{op:<11}{shape:<17}{dtype:<9}{layout:<7}{direction:<8}" + "".join(cells))
    print(f"\nspeed-up over {BASELINE} (geometric mean, min, max over shapes, dtypes and layouts)")
    for (op, direction, name), values in sorted(speedups(rows).items()):
        gmean = math.exp(sum(math.log(v) for v in values) / len(values))
        print(f"  {op:<11}{direction:<8}{name:<20} {gmean:6.2f}x  "
              f"(min {min(values):.2f}x, max {max(values):.2f}x, {len(values)} cases)")


def chart(rows, path, copy_gbps):
    """One panel per op: GB/s of every provider on every case, against the copy bandwidth."""
    try:
        import matplotlib
    except ImportError:
        print(f"no chart ({path}): matplotlib is not installed")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = list(dict.fromkeys(r["op"] for r in rows))
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    fig, axes = plt.subplots(len(ops), 1, figsize=(16, 4.5 * len(ops)), squeeze=False)
    for ax, op in zip(axes[:, 0], ops):
        groups = {k: v for k, v in _groups(rows).items() if k[0] == op}
        labels = [f"{s}\n{d[:4]} {lay} {dr}" for (_, s, d, lay, dr) in groups]
        width = 0.8 / len(providers)
        for i, p in enumerate(providers):
            values = [g[p]["gbps"] if p in g else 0 for g in groups.values()]
            ax.bar([j + i * width for j in range(len(groups))], values, width, label=p)
        ax.axhline(copy_gbps, color="black", linestyle="--", linewidth=1, label=f"copy {copy_gbps:.0f} GB/s")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], labels, fontsize=6, rotation=90)
        ax.set_ylabel("GB/s (minimal bytes)")
        ax.set_title(op)
        ax.legend(fontsize=7, ncol=len(providers) + 1)
    device = rows[0]["device"] if rows else ""
    fig.suptitle(f"cnnkernels kernel benchmark: {device}, torch {rows[0]['torch'] if rows else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
