"""Train a cnnkernels.models network: `python -m cnnkernels.train` (or `cnnkernels-train`).

    python -m cnnkernels.train --model resnet18 --epochs 1                 # synthetic data, anywhere
    python -m cnnkernels.train --model alexnet --data /data/imagenet --precision bf16 --channels-last
    torchrun --nproc_per_node=8 -m cnnkernels.train --model resnet50 --data /data/imagenet
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 \\
        -m cnnkernels.train --model resnet50 --data /data/imagenet

Under torchrun every process trains on its share of each batch (DistributedDataParallel; NCCL on
GPUs, gloo on CPUs); rank 0 logs and writes checkpoints. --batch-size is per process.
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import backends, data, models
from .backends import BACKENDS

SCHEDULES = ("step", "resnet", "constant")


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m cnnkernels.train", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="resnet18", help=f"one of: {', '.join(models.list_models())}")
    p.add_argument("--model-args", default="{}",
                   help='builder keyword arguments as JSON, e.g. \'{"variant": "paper"}\'')
    p.add_argument("--data", help="folder with train/<class>/*.jpg and val/<class>/*.jpg (default: synthetic images)")
    p.add_argument("--synthetic-size", type=int, default=512,
                   help="synthetic training images (without --data; at least --steps-per-epoch batches)")
    p.add_argument("--num-classes", type=int, default=1000, help="classes of the synthetic data")
    p.add_argument("--image-size", type=int, default=224, help="side of the square training crops, in pixels")
    p.add_argument("--augment", default="paper", choices=["paper", "none"])
    p.add_argument("--ten-crop", action="store_true", help="evaluate on ten crops instead of the centre crop")
    p.add_argument("--epochs", type=int, default=90, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=128, help="images per step, per process")
    p.add_argument("--lr", type=float, default=0.1, help="SGD's learning rate at the start")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD's momentum")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="SGD's L2 weight decay")
    p.add_argument("--schedule", default="step", choices=SCHEDULES,
                   help="step: lr x gamma every --step-size epochs (AlexNet, VGG); resnet: x0.1 at 50%% and 75%%")
    p.add_argument("--step-size", type=int, default=30, help="--schedule step: epochs between decays")
    p.add_argument("--gamma", type=float, default=0.1, help="--schedule step: the decay factor")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="cross-entropy's label smoothing")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="autocast dtype")
    p.add_argument("--channels-last", action="store_true", help="model and images in channels_last memory format")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="cnnkernels' kernels, or torch for PyTorch's ops")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--workers", type=int, default=min(4, _cpus()), help="data-loading processes")
    p.add_argument("--steps-per-epoch", type=int, help="stop each epoch after this many steps (quick runs)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the data order and the augmentation")
    p.add_argument("--out", default="runs/train", help="folder for the CSV log and checkpoints")
    p.add_argument("--resume", help="checkpoint to continue from (exactly: model, optimizer, schedule, epoch, RNG)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        args.model_args = json.loads(args.model_args)
    except json.JSONDecodeError as error:
        p.error(f"--model-args is not JSON: {error}")
    if not isinstance(args.model_args, dict):
        p.error(f"--model-args must be a JSON object of keyword arguments, got {args.model_args!r}")
    if args.model not in models.list_models():
        p.error(f"unknown model {args.model!r}; expected one of {', '.join(models.list_models())}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if backends.unavailable_reason(args.backend) is not None:
        p.error(f"--backend {args.backend}: {backends.unavailable_reason(args.backend)}")
    if args.backend in ("cpu", "cuda", "triton") and device not in backends.device_types(args.backend):
        p.error(f"--backend {args.backend} runs on {' or '.join(backends.device_types(args.backend))} tensors; "
                f"this machine trains on the {device.upper() if device == 'cuda' else 'CPU'}")
    if args.data is None and args.steps_per_epoch:  # enough synthetic images for the steps asked for
        world = int(os.environ.get("WORLD_SIZE", "1"))
        args.synthetic_size = max(args.synthetic_size, args.steps_per_epoch * args.batch_size * world)
    return args


def _cpus():
    """The CPUs this process may run on (what DataLoader checks its workers against)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Distributed:
    """torchrun's environment, or a single process."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.main = self.rank == 0

    def close(self):
        if self.world > 1:
            dist.destroy_process_group()

    def sum(self, *values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()


def lr_factor(args, epoch):
    if args.schedule == "step":
        return args.gamma ** (epoch // args.step_size)
    if args.schedule == "resnet":
        return 0.1 ** sum(epoch >= m for m in (math.ceil(args.epochs * 0.5), math.ceil(args.epochs * 0.75)))
    return 1.0


def loader(dataset, args, dist_ctx, train, epoch_seed):
    # The same sampler with one replica serves a single process, so one process and N see the same
    # global batches in the same order.
    sampler = torch.utils.data.DistributedSampler(
        dataset, num_replicas=dist_ctx.world, rank=dist_ctx.rank, shuffle=train, seed=args.seed, drop_last=train
    )
    generator = torch.Generator().manual_seed(epoch_seed)  # seeds the workers' augmentation
    return sampler, torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
        collate_fn=data.collate_skipping,
        pin_memory=dist_ctx.device.type == "cuda", drop_last=train, generator=generator,
        persistent_workers=False,
    )


def rng_state():
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingError(RuntimeError):
    """Something the user can fix, said plainly."""


def load_checkpoint(path, model, optimizer, scheduler, args):
    if not os.path.isfile(path):
        raise TrainingError(f"no checkpoint at {path!r}")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if checkpoint.get("model_name") != args.model:
        raise TrainingError(f"{path!r} is a checkpoint of {checkpoint.get('model_name')!r}, not of {args.model!r}")
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise TrainingError(f"{path!r} does not fit this {args.model} (other arguments?): {error}") from None
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    set_rng_state(checkpoint["rng"])
    return checkpoint["epoch"] + 1


def evaluate(model, val_loader, dist_ctx, autocast, ten_crop):
    model.eval()
    correct1 = correct5 = total = skipped = 0
    with torch.no_grad(), autocast():
        for images, targets, bad in val_loader:
            skipped += bad
            if images is None:
                continue
            images, targets = images.to(dist_ctx.device), targets.to(dist_ctx.device)
            if ten_crop:  # (B, 10, C, H, W): average the crops' predictions
                logits = model(images.flatten(0, 1)).view(images.shape[0], 10, -1).float().softmax(-1).mean(1)
            else:
                logits = model(images)
            top5 = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
            correct1 += (top5[:, 0] == targets).sum().item()
            correct5 += (top5 == targets[:, None]).any(-1).sum().item()
            total += targets.numel()
    correct1, correct5, total, skipped = dist_ctx.sum(correct1, correct5, total, skipped)
    return 100 * correct1 / max(total, 1), 100 * correct5 / max(total, 1), int(skipped)


def train(args):
    dist_ctx = Distributed()
    try:
        return _train(args, dist_ctx)
    finally:
        dist_ctx.close()


def _train(args, dist_ctx):
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    train_set, val_set, num_classes = data.datasets(
        args.data, args.augment, args.image_size, args.synthetic_size, args.num_classes, args.ten_crop
    )
    model_args = {"num_classes": num_classes, "backend": args.backend, **args.model_args}
    try:
        model = models.get_model(args.model, **model_args)
    except (TypeError, ValueError) as error:  # an unknown keyword or value in --model-args
        raise TrainingError(f"--model-args {json.dumps(args.model_args)} for {args.model}: {error}") from None
    model = model.to(dist_ctx.device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(args, epoch))
    start_epoch = load_checkpoint(args.resume, model, optimizer, scheduler, args) if args.resume else 0
    ddp = torch.nn.parallel.DistributedDataParallel(model) if dist_ctx.world > 1 else model
    runner = torch.compile(ddp) if args.compile else ddp
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]

    def autocast():
        return torch.autocast(dist_ctx.device.type, dtype=dtype, enabled=dtype is not None)

    scaler = torch.amp.GradScaler(dist_ctx.device.type, enabled=args.precision == "fp16")
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "log.csv")
    fields = ["epoch", "lr", "train_loss", "train_top1", "val_top1", "val_top5", "img_per_s", "skipped_images",
              "seconds"]
    if dist_ctx.main and start_epoch == 0:
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(fields)
    last = {}
    for epoch in range(start_epoch, args.epochs):
        sampler, train_loader = loader(train_set, args, dist_ctx, True, args.seed * 1000 + epoch)
        sampler.set_epoch(epoch)
        model.train()
        loss_sum = correct = seen = skipped = 0.0
        start = time.perf_counter()
        steps = len(train_loader) if args.steps_per_epoch is None else min(args.steps_per_epoch, len(train_loader))
        if args.steps_per_epoch and steps < args.steps_per_epoch and dist_ctx.main and epoch == start_epoch:
            print(f"--steps-per-epoch {args.steps_per_epoch}: the training set has {steps} batches of "
                  f"{args.batch_size}; each epoch runs {steps}")
        bar = progress(range(steps), f"epoch {epoch + 1}/{args.epochs}", dist_ctx.main and not args.no_progress)
        batches = iter(train_loader)
        for _ in bar:
            images, targets, bad = next(batches)
            skipped += bad
            if images is None:
                continue
            images = images.to(dist_ctx.device, non_blocking=True)
            targets = targets.to(dist_ctx.device, non_blocking=True)
            if args.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast():
                out = runner(images)
                logits = out.logits if isinstance(out, tuple) else out
                loss = F.cross_entropy(logits, targets, label_smoothing=args.label_smoothing)
                if isinstance(out, tuple):  # GoogLeNet's auxiliary classifiers, weighted 0.3 as in the paper
                    loss = loss + 0.3 * sum(F.cross_entropy(a, targets, label_smoothing=args.label_smoothing)
                                            for a in out[1:] if a is not None)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            n = targets.numel()
            loss_sum += loss.item() * n
            correct += (logits.argmax(-1) == targets).sum().item()
            seen += n
            rate = seen * dist_ctx.world / (time.perf_counter() - start)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}%", img_s=f"{rate:.0f}")
        loss_sum, correct, seen, skipped = dist_ctx.sum(loss_sum, correct, seen, skipped)
        seconds = time.perf_counter() - start
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        _, val_loader = loader(val_set, args, dist_ctx, False, 0)
        top1, top5, val_skipped = evaluate(runner, val_loader, dist_ctx, autocast, args.ten_crop)
        last = dict(epoch=epoch + 1, lr=lr, train_loss=loss_sum / max(seen, 1), train_top1=100 * correct / max(seen, 1),
                    val_top1=top1, val_top5=top5, img_per_s=seen / seconds, skipped_images=int(skipped + val_skipped),
                    seconds=seconds)
        if dist_ctx.main:
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([f"{last[k]:.6g}" if isinstance(last[k], float) else last[k] for k in fields])
            print(f"epoch {epoch + 1}: loss {last['train_loss']:.4f}, val top-1 {top1:.2f}% top-5 {top5:.2f}%, "
                  f"{last['img_per_s']:.0f} img/s" + (f", {last['skipped_images']} unreadable images skipped"
                                                      if last["skipped_images"] else ""))
            torch.save({
                "model_name": args.model, "model_args": args.model_args, "epoch": epoch, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(),
            }, os.path.join(args.out, "checkpoint.pt"))
    return model, last


def _require(module, extra):
    """A missing optional dependency is one line that says what to install, not a traceback."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise SystemExit(f"cnnkernels.train needs {module}, which is not installed: pip install "
                         f"'cnnkernels[{extra}]' (or pip install {module})") from None


def progress(iterable, description, show):
    if not show:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=description, dynamic_ncols=True)


def main(argv=None):
    _require("torchvision", "train")
    args = parse(argv)
    try:
        train(args)
    except (data.DatasetError, TrainingError) as error:
        print(f"cnnkernels.train: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
