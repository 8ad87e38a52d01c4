"""The benchmark's outputs: long-format CSV, a table with speed-ups over PyTorch, and a chart."""
import csv
import math
import re
from collections import defaultdict

COLUMNS = [
    "op", "direction", "provider", "shape_name", "shape", "dtype", "layout", "ms_p50", "ms_p20", "ms_p80",
    "spread", "noisy", "gbps", "pct_of_copy", "copy_gbps", "peak_mem_mb", "saved_mb", "rel_err", "device", "torch",
    "cuda", "timestamp", "commit", "img_per_s", "first_step_s",
]
NUMERIC = {"ms_p50", "ms_p20", "ms_p80", "spread", "noisy", "gbps", "pct_of_copy", "copy_gbps", "peak_mem_mb",
           "saved_mb", "rel_err", "img_per_s", "first_step_s"}
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


def speedups(rows, include_noisy=False):
    """{(op, direction, provider): [speed-up over torch-eager per case]} for every other provider; a case
    where either row is noisy counts only with include_noisy."""
    result = defaultdict(list)
    for (op, _, _, _, direction), by_provider in _groups(rows).items():
        if BASELINE not in by_provider:
            continue
        base = by_provider[BASELINE]
        for name, r in by_provider.items():
            if name != BASELINE and (include_noisy or not (r.get("noisy") or base.get("noisy"))):
                result[(op, direction, name)].append(base["ms_p50"] / r["ms_p50"])
    return result


def print_table(rows):
    providers = list(dict.fromkeys(r["provider"] for r in rows))
    head = f"{'op':<11}{'shape':<17}{'dtype':<9}{'layout':<7}{'dir':<8}" + "".join(f"{p:>24}" for p in providers)
    print("\nms (p50) and % of copy bandwidth; x = speed-up over " + BASELINE + "; * = noisy (p80/p20 spread too wide)")
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
            cells.append(f"{cell + ('*' if r.get('noisy') else ' '):>24}")
        print(f"{op:<11}{shape:<17}{dtype:<9}{layout:<7}{direction:<8}" + "".join(cells))
    noisy = sum(1 for r in rows if r.get("noisy"))
    print(f"\nnoisy rows: {noisy} of {len(rows)}" + (" (left out of the speed-ups below; the machine was busy: "
                                                     "run again on a quiet one)" if noisy else ""))
    print(f"speed-up over {BASELINE} (geometric mean, min, max over shapes, dtypes and layouts)")
    for (op, direction, name), values in sorted(speedups(rows).items()):
        gmean = math.exp(sum(math.log(v) for v in values) / len(values))
        print(f"  {op:<11}{direction:<8}{name:<20} {gmean:6.2f}x  "
              f"(min {min(values):.2f}x, max {max(values):.2f}x, {len(values)} cases)")


def chart(rows, stem):
    """One figure per op, <stem>-<op>.png: per case, each provider's speed-up over torch-eager (on a
    GPU, its % of the copy bandwidth), noisy rows hatched. Returns the paths written."""
    try:
        import matplotlib
    except ImportError:
        print(f"no charts ({stem}-*.png): matplotlib is not installed (pip install matplotlib)")
        return []

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    gpu = not rows[0]["device"].startswith("cpu")
    paths = []
    for op in dict.fromkeys(r["op"] for r in rows):
        # a case is drawn where there is something to show: on the CPU, a baseline to be faster than
        groups = {k: v for k, v in _groups(rows).items() if k[0] == op and (gpu or BASELINE in v)}
        if not groups:
            continue
        providers = [p for p in dict.fromkeys(r["provider"] for r in rows if r["op"] == op) if gpu or p != BASELINE]
        labels = [f"{shape} {dtype} {layout} {direction}" for (_, shape, dtype, layout, direction) in groups]
        height = 0.8 / max(len(providers), 1)
        fig, ax = plt.subplots(figsize=(10, 1.4 + 0.3 * len(groups) * max(1, len(providers) / 2)))
        for i, provider in enumerate(providers):
            for j, by_provider in enumerate(groups.values()):
                r = by_provider.get(provider)
                if r is None:
                    continue
                value = r["pct_of_copy"] if gpu else by_provider[BASELINE]["ms_p50"] / r["ms_p50"]
                noisy = r.get("noisy") or by_provider.get(BASELINE, {}).get("noisy")
                ax.barh(j + i * height, value, height, color=f"C{i}", hatch="///" if noisy else None,
                        edgecolor="white" if noisy else None)
                ax.text(value, j + i * height, f" {value:.0f}%" if gpu else f" {value:.2f}x", va="center",
                        fontsize=7)
        ax.axvline(100 if gpu else 1.0, color="black", linewidth=1)
        ax.set_yticks([j + 0.4 - height / 2 for j in range(len(groups))], labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("% of the copy bandwidth (minimal bytes)" if gpu else f"speed-up over {BASELINE} (x)")
        if not gpu:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.set_title(f"{op}: {rows[0]['device']}, torch {rows[0]['torch']}", fontsize=10)
        handles = [matplotlib.patches.Patch(color=f"C{i}", label=p) for i, p in enumerate(providers)]
        handles.append(matplotlib.patches.Patch(facecolor="grey", hatch="///", edgecolor="white",
                                                label="noisy (machine busy)"))
        ax.legend(handles=handles, fontsize=8, loc="lower right")
        fig.tight_layout()
        path = f"{stem}-{op}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
