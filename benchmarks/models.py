"""Whole-model benchmark: a training step (forward, backward, SGD) and inference, in images/s and
peak memory, for each network on cnnkernels' kernels against the same network on PyTorch's own
ops, eager and under torch.compile. A correctness check rides along: the same training run on both
gives the same loss curve."""
import time

import torch
import torch.nn.functional as F

import cnnkernels.models as M
from .timing import progress, quantiles

# name -> (builder, kwargs, batch on a GPU)
MODELS = {
    "alexnet-paper": ("alexnet", {"variant": "paper"}, 256),
    "alexnet": ("alexnet", {"variant": "torchvision"}, 256),
    "googlenet-paper": ("googlenet", {"variant": "paper", "aux_logits": False}, 128),
    "googlenet": ("googlenet", {"variant": "torchvision", "aux_logits": False}, 128),
    "vgg16": ("vgg16", {}, 128),
    "resnet50": ("resnet50", {}, 128),
}
# provider -> (backend of the model's cnnkernels modules, compiled)
PROVIDERS = {
    "cnnkernels": ("auto", False),
    "torch-eager": ("torch", False),
    "cnnkernels-compile": ("auto", True),
    "torch-compile": ("torch", True),
}
PRECISIONS = {  # name -> (autocast dtype or None, channels_last)
    "bf16-cl": (torch.bfloat16, True),
    "fp32": (None, False),
}
LOSS_TOLERANCE = {"bf16-cl": 0.05, "fp32": 1e-3}  # relative difference of the losses after 50 steps


def build(name, backend, device, channels_last, seed=0):
    builder, kwargs, _ = MODELS[name]
    torch.manual_seed(seed)
    model = M.get_model(builder, backend=backend, **kwargs).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def make_step(model, autocast_dtype, device):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(fn, device, steps):
    """ms per call: after two warm-up calls, each of `steps` calls timed (CUDA-synchronised)."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return quantiles(times)


def loss_curve(name, backend, device, precision, batch, size, steps):
    autocast_dtype, channels_last = PRECISIONS[precision]
    model = build(name, backend, device, channels_last).train()
    step = make_step(model, autocast_dtype, device)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, size, size, generator=generator).to(device)
    y = torch.randint(0, 1000, (batch,), generator=generator).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return [step(x, y).item() for _ in range(steps)]


def run(settings, device, meta):
    """Rows for every model x precision x provider x direction (train, infer), and the loss checks,
    model by model (a run cut short by --time-limit keeps whole models)."""
    rows, checks, failures = [], [], []
    jobs = [(n, p, prov) for n in settings.models for p in settings.precisions for prov in settings.model_providers]
    for name, precision, provider in progress(jobs, desc="models", unit="run", dynamic_ncols=True):
        if time.perf_counter() > settings.deadline:
            print(f"time limit reached: {name} {precision} {provider} and the runs after it not done")
            break
        try:
            rows += time_model(settings, device, meta, name, precision, provider)
            if provider == settings.model_providers[-1] and settings.check_steps:
                checks.append(check_loss_curve(settings, device, name, precision))
        except Exception as e:  # out of memory, say: report it, go on with the next model
            failures.append(f"{name} {precision} {provider}: {type(e).__name__}: {e}")
            print("FAILED " + failures[-1])
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows, checks, failures


def time_model(settings, device, meta, name, precision, provider):
    backend, compiled = PROVIDERS[provider]
    autocast_dtype, channels_last = PRECISIONS[precision]
    batch = settings.model_batch or MODELS[name][2]
    model = build(name, backend, device, channels_last).train()
    x = torch.randn(batch, 3, settings.image_size, settings.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    y = torch.randint(0, 1000, (batch,), device=device)
    step = make_step(torch.compile(model) if compiled else model, autocast_dtype, device)
    start = time.perf_counter()
    step(x, y)  # the first step compiles
    sync(device)
    first_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train = time_steps(lambda: step(x, y), device, settings.model_steps)
    train_peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    model.eval()
    forward = torch.compile(model) if compiled else model

    def infer():
        with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            forward(x)

    infer_ms = time_steps(infer, device, settings.model_steps)
    return [
        dict(op=f"model:{name}", direction=direction, provider=provider, shape_name=name,
             shape=f"{batch}x3x{settings.image_size}x{settings.image_size}", dtype=precision.split("-")[0],
             layout="nhwc" if channels_last else "nchw", ms_p50=p50, ms_p20=p20, ms_p80=p80,
             peak_mem_mb=peak, img_per_s=batch / (p50 * 1e-3), first_step_s=first_s, **meta)
        for direction, (p50, p20, p80), peak in (("train", train, train_peak), ("infer", infer_ms, float("nan")))
    ]


def check_loss_curve(settings, device, name, precision):
    """(name, precision, largest relative difference, tolerance, curves) of the same training run
    on cnnkernels and on PyTorch's ops."""
    batch = settings.model_batch or MODELS[name][2]
    curves = [loss_curve(name, b, device, precision, batch, settings.image_size, settings.check_steps)
              for b in ("auto", "torch")]
    worst = max(abs(a - b) / abs(b) for a, b in zip(*curves))
    return name, precision, worst, LOSS_TOLERANCE[precision], curves


def print_models(rows, checks):
    if not rows and not checks:
        return
    print("\nmodels: images/s (p50) for train (forward, backward, SGD) and infer; x = over torch-eager")
    base = {(r["op"], r["dtype"], r["direction"]): r["img_per_s"] for r in rows if r["provider"] == "torch-eager"}
    for r in rows:
        key = (r["op"], r["dtype"], r["direction"])
        ratio = r["img_per_s"] / base[key] if key in base else float("nan")
        print(f"  {r['shape_name']:<16}{r['dtype']:<6}{r['layout']:<6}{r['direction']:<6}{r['provider']:<20}"
              f"{r['img_per_s']:10.0f} img/s  {ratio:5.2f}x  peak {r['peak_mem_mb']:.0f} MB  "
              f"first step {r['first_step_s']:.1f} s")
    for name, precision, worst, tolerance, _ in checks:
        verdict = "ok" if worst <= tolerance else "DIFFERS"
        print(f"  loss check {name} {precision}: largest relative difference {worst:.2e} over the run "
              f"(tolerance {tolerance:g}): {verdict}")
