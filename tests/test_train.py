"""The training command: a few steps on a tiny image folder (with a corrupt image), exact resume,
2-process gloo DDP = 1 process on the same global batch, the augmentation, and clear errors."""
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402

from cnnkernels import data, models  # noqa: E402
from cnnkernels.train import main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--workers", "0", "--no-progress", "--steps-per-epoch", "2", "--batch-size", "4", "--lr", "0.01"]


def image_folder(root, classes=2, per_class=4, corrupt=True):
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = torch.randint(0, 256, (40, 48, 3), dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{i}.jpg")
    if corrupt:
        (root / "train" / "class0" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def params(path):
    return torch.load(path, weights_only=False)["model"]


def test_trains_on_an_image_folder_and_skips_a_corrupt_image(tmp_path):
    root = image_folder(tmp_path / "data")
    out = tmp_path / "run"
    main(["--model", "resnet18", "--data", str(root), "--image-size", "32", "--epochs", "1", "--out", str(out),
          "--workers", "0", "--no-progress", "--batch-size", "9", "--lr", "0.01"])
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss") and len(rows) == 2
    fields = dict(zip(rows[0].split(","), rows[1].split(",")))
    assert fields["skipped_images"] == "1"
    assert 0 <= float(fields["val_top1"]) <= float(fields["val_top5"]) <= 100
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=False)
    assert checkpoint["model"]["fc.weight"].shape == (2, 512)  # the folder's two classes


def test_resume_is_exact(tmp_path):
    common = ["--model", "resnet18", "--image-size", "32", "--synthetic-size", "16", "--num-classes", "5", *QUICK]
    main([*common, "--epochs", "2", "--out", str(tmp_path / "straight")])
    main([*common, "--epochs", "1", "--out", str(tmp_path / "halves")])
    resume = ["--resume", str(tmp_path / "halves" / "checkpoint.pt")]
    main([*common, "--epochs", "2", "--out", str(tmp_path / "halves"), *resume])
    straight, resumed = params(tmp_path / "straight" / "checkpoint.pt"), params(tmp_path / "halves" / "checkpoint.pt")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert len((tmp_path / "halves" / "log.csv").read_text().splitlines()) == 3


def test_two_process_ddp_matches_one_process_on_the_global_batch(tmp_path):
    common = ["--model", "alexnet", "--model-args", '{"dropout": 0.0}', "--image-size", "64", "--augment", "none",
              "--synthetic-size", "16", "--num-classes", "4", "--epochs", "1", "--workers", "0", "--no-progress",
              "--steps-per-epoch", "2", "--lr", "0.01"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m",
         "cnnkernels.train", *common, "--batch-size", "4", "--out", str(tmp_path / "ddp")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    main([*common, "--batch-size", "8", "--out", str(tmp_path / "single")])
    a, b = params(tmp_path / "ddp" / "checkpoint.pt"), params(tmp_path / "single" / "checkpoint.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
    torch.manual_seed(0)  # the runs' seed: the weights they started from
    initial = models.alexnet(num_classes=4, dropout=0.0).state_dict()
    assert max((a[k] - initial[k]).abs().max().item() for k in a) > 1e-4  # both actually trained


def test_augmentation_shapes_and_ranges():
    image = Image.fromarray(torch.randint(0, 256, (300, 400, 3), dtype=torch.uint8).numpy())
    train = data.transforms(True)(image)
    val = data.transforms(False)(image)
    ten = data.ten_crop_transform()(image)
    assert train.shape == val.shape == (3, 224, 224) and ten.shape == (10, 3, 224, 224)
    for t in (train, val, ten):  # normalised [0, 1] pixels, plus lighting and colour changes
        assert t.dtype == torch.float32 and -3.5 < t.min() and t.max() < 3.5
    lighting = data.Lighting(0.1)
    flat = torch.zeros(3, 4, 4)
    shifted = lighting(flat)
    assert torch.allclose(shifted, shifted[:, :1, :1].expand_as(shifted))  # one RGB shift per image
    assert data.Lighting(0.0)(flat) is flat


@pytest.mark.parametrize("make, args, message", [
    (lambda p: p, ["--data", "{p}/missing"], "no dataset folder"),
    (lambda p: (p / "empty" / "train").mkdir(parents=True) or (p / "empty" / "val").mkdir(parents=True),
     ["--data", "{p}/empty"], "holds no images"),
], ids=["missing", "empty"])
def test_bad_dataset_gets_a_clear_message(tmp_path, capsys, make, args, message):
    make(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "resnet18", *[a.format(p=tmp_path) for a in args], "--out", str(tmp_path / "run"), *QUICK])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_unknown_model_and_foreign_checkpoint(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "resnet51"])
    assert exit_info.value.code == 2 and "unknown model 'resnet51'" in capsys.readouterr().err
    common = ["--image-size", "32", "--synthetic-size", "8", "--epochs", "1", *QUICK]
    main(["--model", "resnet18", *common, "--out", str(tmp_path / "r18")])
    with pytest.raises(SystemExit):
        main(["--model", "resnet34", *common, "--out", str(tmp_path / "r34"),
              "--resume", str(tmp_path / "r18" / "checkpoint.pt")])
    assert "checkpoint of 'resnet18', not of 'resnet34'" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--model-args", '{"variant": "papr"}'], "variant must be 'paper' or 'torchvision', got 'papr'"),
    (["--model-args", '{"widht": 2}'], "unexpected keyword argument 'widht'"),
    (["--model-args", "[1, 2]"], "must be a JSON object"),
], ids=["unknown-variant", "unknown-key", "not-an-object"])
def test_bad_model_args_get_one_line(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "alexnet", *args, "--out", str(tmp_path), *QUICK])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_backend_cuda_without_a_gpu_gets_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--model", "resnet18", "--backend", "cuda"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--backend cuda" in err and "no GPU" in err


def test_steps_per_epoch_runs_what_was_asked_on_synthetic_data(tmp_path, capsys):
    """20 steps of 4 images need 80 synthetic images, more than the 16 asked for: it makes them."""
    main(["--model", "alexnet", "--model-args", '{"variant": "torchvision"}', "--image-size", "64",
          "--synthetic-size", "16", "--num-classes", "3", "--epochs", "1", "--workers", "0", "--no-progress",
          "--steps-per-epoch", "20", "--batch-size", "4", "--lr", "0.001", "--out", str(tmp_path)])
    row = dict(zip(*[line.split(",") for line in (tmp_path / "log.csv").read_text().splitlines()]))
    assert float(row["img_per_s"]) * float(row["seconds"]) == pytest.approx(80, rel=1e-3)


def test_help_shows_the_defaults():
    result = subprocess.run([sys.executable, "-m", "cnnkernels.train", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    text = " ".join(result.stdout.split())  # (argparse wraps lines)
    assert result.returncode == 0 and "(default: runs/train)" in text and "(default: 90)" in text


def test_missing_torchvision_is_one_line_naming_the_install():
    code = ("import sys; sys.modules['torchvision'] = None\n"
            "from cnnkernels.train import main\nmain(['--model', 'resnet18'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "pip install 'cnnkernels[train]'" in result.stderr
