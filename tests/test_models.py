"""cnnkernels.models: torchvision-layout models match torchvision (outputs and gradients, fp32 CPU),
convert() keeps outputs, the paper variants have the right shapes and train, torch.compile works,
and the thousand-layer pre-activation ResNet builds and takes a step."""
import pytest
import torch

import cnnkernels.models as M
import cnnkernels.nn as cnn

tv = pytest.importorskip("torchvision.models")

# (our builder and kwargs, torchvision's builder, input size)
PARITY = [
    (("alexnet", {"variant": "torchvision"}), "alexnet", 96),
    (("vgg11", {}), "vgg11", 32),
    (("vgg16_bn", {}), "vgg16_bn", 32),
    (("vgg19", {}), "vgg19", 32),
    (("resnet18", {}), "resnet18", 64),
    (("resnet50", {"zero_init_residual": True}), "resnet50", 64),
    (("resnet50", {"groups": 32, "width_per_group": 4}), "resnext50_32x4d", 64),
    (("resnet50", {"replace_stride_with_dilation": [False, True, True]}), "resnet50", 64),
    (("resnet152", {}), "resnet152", 64),
    (("googlenet", {"variant": "torchvision", "aux_logits": True, "init_weights": True}), "googlenet", 64),
]


def build_pair(ours, theirs, seed=0):
    name, kwargs = ours
    torch.manual_seed(seed)
    theirs_kwargs = {k: v for k, v in kwargs.items() if k not in ("variant",)}
    if theirs.startswith("resnext"):
        theirs_kwargs = {}
    if theirs == "googlenet":
        reference = tv.googlenet(aux_logits=True, init_weights=True)
    else:
        reference = getattr(tv, theirs)(**theirs_kwargs)
    model = M.get_model(name, weights=reference.state_dict(), **kwargs)
    return model, reference


def assert_close_rel(a, b, rtol=1e-5):
    scale = b.abs().max().item()
    torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * max(scale, 1e-12))


@pytest.mark.parametrize("ours, theirs, size", PARITY, ids=[f"{o[0]}-{t}" for o, t, _ in PARITY])
def test_matches_torchvision(ours, theirs, size):
    model, reference = build_pair(ours, theirs)
    model.eval()
    reference.eval()
    x = torch.randn(2, 3, size, size)
    out, ref = model(x), reference(x)
    assert_close_rel(out, ref)
    out.square().sum().backward()
    ref.square().sum().backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert (p.grad is None) == (q.grad is None), name  # (eval GoogLeNet: the aux heads get none)
        if p.grad is not None:
            assert_close_rel(p.grad, q.grad, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "alexnet", "vgg11_bn"])
def test_convert_keeps_outputs(name):
    torch.manual_seed(0)
    model = getattr(tv, name)(**({"init_weights": True} if name == "googlenet" else {})).eval()
    x = torch.randn(2, 3, 96, 96)
    expected = model(x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cnn.convert(model)
    kinds = {type(m) for m in model.modules()}
    assert cnn.MaxPool2d in kinds and not any(type(m) is torch.nn.MaxPool2d for m in model.modules())
    if name == "resnet18":
        assert cnn.AddReLU in kinds
    assert model.state_dict().keys() == state.keys()
    assert_close_rel(model(x), expected)


def test_paper_alexnet():
    model = M.alexnet(num_classes=10)
    lrns = [m for m in model.modules() if isinstance(m, cnn.LocalResponseNorm)]
    assert [(m.size, m.alpha, m.beta, m.k) for m in lrns] == [(5, 5e-4, 0.75, 2.0)] * 2
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [96, 256, 384, 384, 256]
    for size in (224, 227):
        assert model(torch.randn(1, 3, size, size)).shape == (1, 10)
    assert model.features[:8](torch.randn(1, 3, 224, 224)).shape == (1, 256, 13, 13)
    train_step(model, (2, 3, 224, 224), 10)


def test_paper_googlenet():
    model = M.googlenet(num_classes=10)
    assert sum(isinstance(m, cnn.LocalResponseNorm) for m in model.modules()) == 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model.inception3a.branch3[1].conv.kernel_size == (5, 5)
    assert model.inception3a.branch4[0].stride == 1
    model.train()
    out = model(torch.randn(2, 3, 224, 224))
    assert isinstance(out, M.GoogLeNetOutputs) and all(o.shape == (2, 10) for o in out)
    model.eval()
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)
    train_step(model, (2, 3, 224, 224), 10, aux=True)


def train_step(model, shape, classes, aux=False):
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    out = model(torch.randn(shape))
    target = torch.randint(0, classes, (shape[0],))
    if aux:
        loss = torch.nn.functional.cross_entropy(out.logits, target) + 0.3 * sum(
            torch.nn.functional.cross_entropy(o, target) for o in (out.aux_logits1, out.aux_logits2))
    else:
        loss = torch.nn.functional.cross_entropy(out, target)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_backend_torch_is_the_same_network():
    torch.manual_seed(0)
    ours = M.resnet18(num_classes=10).eval()
    reference = M.resnet18(num_classes=10, backend="torch", weights=ours.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64)
    assert_close_rel(ours(x), reference(x))
    with cnn.use_backend("torch"):
        assert_close_rel(ours(x), reference(x))


def test_torch_compile_fullgraph():
    torch.manual_seed(0)
    model = M.alexnet(num_classes=10)
    model.eval()
    x = torch.randn(2, 3, 96, 96)
    expected = model(x)
    compiled = torch.compile(model, fullgraph=True)
    assert_close_rel(compiled(x), expected, rtol=1e-4)


def test_preact_resnet_1001_builds_and_steps():
    model = M.preact_resnet(1001)
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert convs == 1 + 333 * 3 + 3  # stem, 111 bottlenecks x 3 stages x 3 convs, 3 projections
    train_step(model, (2, 3, 32, 32), 10)


@pytest.mark.parametrize("depth, blocks", [(110, 54), (164, 54)])
def test_preact_resnet_depths(depth, blocks):
    model = M.preact_resnet(depth)
    assert len(model.blocks) == blocks
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_registry_and_weights(tmp_path):
    assert {"alexnet", "googlenet", "resnet50", "vgg16_bn", "preact_resnet"} <= set(M.list_models())
    with pytest.raises(ValueError, match="unknown model 'resnet51'"):
        M.get_model("resnet51")
    model = M.resnet18(num_classes=7)
    path = tmp_path / "r18.pt"
    torch.save(model.state_dict(), path)
    loaded = M.resnet18(num_classes=7, weights=path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    with pytest.raises(FileNotFoundError, match="no weights file"):
        M.resnet18(weights=tmp_path / "missing.pt")
    with pytest.raises(RuntimeError, match="Missing key"):
        M.resnet50(weights=path)  # a checkpoint of another model
