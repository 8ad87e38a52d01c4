"""python -m benchmarks.sass: the static SASS report of the CUDA and the Triton kernels (report.py),
printed and written to benchmarks/results/sass-<date>.csv. No GPU needed: nvcc, and cuobjdump (which
Triton's wheel ships); Triton with its CUDA backend for the Triton rows."""
import argparse
import datetime
import os
import sys

from . import cuda_kernels, report


def triton_unavailable_reason():
    try:
        from . import triton_kernels
    except ImportError as error:  # (no Triton: cnnkernels.triton cannot import)
        return f"needs Triton with its CUDA backend ({error})"
    return triton_kernels.unavailable_reason()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.sass", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", help="comma-separated ops, from lrn, max_pool2d, add_relu (default: all)")
    p.add_argument("--dtypes", default="float32,bfloat16,float16")
    p.add_argument("--backends", default="cuda,triton", help="comma-separated, from cuda, triton (default: both)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                 "results"), help="folder for sass-<date>.csv")
    p.add_argument("--markdown", action="store_true", help="also print README's summary table (inputs >= 64 MB)")
    args = p.parse_args(argv)
    reasons = {"cuda": cuda_kernels.unavailable_reason, "triton": triton_unavailable_reason}
    backends = args.backends.split(",")
    for backend in backends:
        reason = reasons[backend]()
        if reason:
            raise SystemExit(f"benchmarks.sass ({backend}): {reason}")
    found = report.rows(dtypes=args.dtypes.split(","), ops=args.ops.split(",") if args.ops else None,
                        backends=backends)
    report.print_table(found)
    over = [r for r in found if not r.within_budget and r.input_mb >= report.BIG / 2**20]
    print(f"\n{len(found)} rows; {len(over)} over budget among the inputs of 64 MB and more")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"sass-{datetime.date.today().isoformat()}.csv")
    report.write_csv(found, path)
    print(f"wrote {path}")
    if args.markdown:
        print()
        report.print_markdown_summary(found)


if __name__ == "__main__":
    main(sys.argv[1:])
