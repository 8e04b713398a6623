"""zoo.models.classic: FCN-32s/16s/8s on VGG16 and the original U-Net.

Each FCN weighs ~135M parameters (fc6 alone is 103M), so every variant is built at most once on the CPU
(module-scoped fixtures); shape sweeps and parameter counts use models built on the ``meta`` device, which
allocates nothing and computes only shapes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.models import classic

REPO_ROOT = Path(__file__).resolve().parents[1]

FCN_BUILDERS = {32: classic.fcn32s_vgg16, 16: classic.fcn16s_vgg16, 8: classic.fcn8s_vgg16}
ODD_SIZES = [(37, 53), (64, 80)]


@pytest.fixture(scope="module", params=[32, 16, 8], ids=["fcn32s", "fcn16s", "fcn8s"])
def fcn(request):
    return FCN_BUILDERS[request.param]().eval()


@pytest.fixture(scope="module")
def unet():
    return classic.unet_original(num_classes=2).eval()


def on_meta(builder, **kwargs):
    with torch.device("meta"):
        return builder(**kwargs)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# -- output shape -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_fcn_output_has_input_size(fcn, size):
    with torch.no_grad():
        out = fcn(torch.randn(1, 3, *size))
    assert out.shape == (1, 21, *size)
    # zero score layers: a fresh FCN predicts nothing at all
    assert torch.count_nonzero(out) == 0


@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_fcn_output_has_input_size_for_every_small_size(output_stride):
    model = on_meta(FCN_BUILDERS[output_stride], num_classes=5)
    # ceil-mode pooling makes the geometry depend on the size modulo 32: cover every residue, twice
    sizes = [(h, w) for h in range(1, 66) for w in (1, 16, 33, 63, h)]
    wrong = [
        (h, w, tuple(out.shape))
        for h, w in sizes
        if (out := model(torch.empty(2, 3, h, w, device="meta"))).shape != (2, 5, h, w)
    ]
    assert not wrong


@pytest.mark.parametrize("size", [*ODD_SIZES, (5, 3), (1, 1), (16, 48)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_unet_output_has_input_size(unet, size):
    with torch.no_grad():
        out = unet(torch.randn(2, 3, *size))
    assert out.shape == (2, 2, *size)
    assert torch.isfinite(out).all()


def test_unet_pads_by_reflection_and_crops_back(unet):
    x = torch.randn(1, 3, 30, 45)
    with torch.no_grad():
        out = unet(x)
        # 30x45 -> 32x48: two rows and three columns mirrored at the bottom and right, then cut off
        expected = unet(F.pad(x, (0, 3, 0, 2), mode="reflect"))[..., :30, :45]
    assert torch.allclose(out, expected, atol=1e-6)


def test_unet_takes_other_input_channels_and_batch_norm():
    model = classic.unet_original(num_classes=3, in_channels=1, batch_norm=True).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 21, 30)).shape == (2, 3, 21, 30)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


# -- initialisation ---------------------------------------------------------------------------------------


def reference_bilinear_taps(kernel_size: int) -> list[float]:
    # surgery.upsample_filt of the reference repository, one axis
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    return [1 - abs(i - center) / factor for i in range(kernel_size)]


def test_fcn_deconvolutions_are_bilinear(fcn):
    deconvs = [m for m in fcn.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(deconvs) == {32: 1, 16: 2, 8: 3}[fcn.output_stride]
    for deconv in deconvs:
        k, s = deconv.kernel_size[0], deconv.stride[0]
        assert deconv.bias is None and k == 2 * s and not deconv.weight.requires_grad
        taps = torch.tensor(reference_bilinear_taps(k))
        expected = torch.zeros(21, 21, k, k)
        expected[range(21), range(21)] = taps[:, None] * taps[None, :]
        assert torch.allclose(deconv.weight, expected)
        # each class upsampled on its own: a constant map stays constant away from the border, where every
        # output pixel receives the full set of kernel taps
        levels = torch.arange(1.0, 22.0).view(1, 21, 1, 1)
        with torch.no_grad():
            out = deconv(levels.expand(1, 21, 6, 5))
        assert out.shape == (1, 21, 7 * s, 6 * s)
        assert torch.allclose(out[..., s:-s, s:-s], levels.expand(1, 21, 5 * s, 4 * s), atol=1e-5)


def test_fcn_score_layers_start_at_zero(fcn):
    names = {32: ["score_fr"], 16: ["score_fr", "score_pool4"], 8: ["score_fr", "score_pool4", "score_pool3"]}
    for name in names[fcn.output_stride]:
        layer = getattr(fcn, name)
        assert layer.kernel_size == (1, 1)
        assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0


def test_fcn_upsampling_can_be_made_learnable():
    model = on_meta(classic.fcn8s_vgg16, learnable_upsampling=True)
    assert all(m.weight.requires_grad for m in model.modules() if isinstance(m, nn.ConvTranspose2d))


# -- geometry: the crop offsets ------------------------------------------------------------------------


def _input_coordinate(model: nn.Module, path: list[str]) -> tuple[float, float]:
    """(a, b) such that pixel ``y`` of the last layer on ``path`` is centred on input pixel ``a * y + b``.

    Caffe's coord_map rule: a convolution or pooling (k, s, p) puts its output ``y`` over input
    ``s * y - p + (k - 1) / 2``; a transposed convolution puts its input ``x`` under output
    ``s * x + (k - 1) / 2 - p``. Walking the path from the input, each layer's map composes on the inside.
    """
    a, b = 1.0, 0.0
    for name in path:
        layer = model.pool if name.startswith("pool") else getattr(model, name)
        k, s = layer.kernel_size, layer.stride
        k, s = (k[0] if isinstance(k, tuple) else k), (s[0] if isinstance(s, tuple) else s)
        p = layer.padding[0] if isinstance(layer.padding, tuple) else layer.padding
        if isinstance(layer, nn.ConvTranspose2d):
            a, b = a / s, b + a * (p - (k - 1) / 2) / s
        else:
            a, b = a * s, b + a * (-p + (k - 1) / 2)
    return a, b


def _vgg_path(upto: str) -> list[str]:
    path = []
    for stage, convs in enumerate([2, 2, 3, 3, 3], start=1):
        path += [f"conv{stage}_{i}" for i in range(1, convs + 1)] + [f"pool{stage}"]
        if f"pool{stage}" == upto:
            return path
    return path


def _crop_offset(reference: tuple[float, float], cropped: tuple[float, float]) -> float:
    # pixel y + c of the cropped map must sit where pixel y of the reference sits:
    # a (y + c) + b_cropped = a y + b_reference
    assert reference[0] == cropped[0], "the aligned maps must have the same stride"
    return (reference[1] - cropped[1]) / cropped[0]


@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_fcn_crop_offsets_follow_from_the_layer_geometry(output_stride):
    model = on_meta(FCN_BUILDERS[output_stride])
    trunk = _vgg_path("pool5") + ["fc6", "fc7", "score_fr"]
    expected = {}
    if output_stride == 32:
        final = trunk + ["upscore"]
    else:
        up2 = trunk + ["upscore2"]
        expected["score_pool4c"] = _crop_offset(
            _input_coordinate(model, up2), _input_coordinate(model, _vgg_path("pool4") + ["score_pool4"])
        )
        if output_stride == 16:
            final = up2 + ["upscore16"]
        else:
            up4 = up2 + ["upscore_pool4"]
            expected["score_pool3c"] = _crop_offset(
                _input_coordinate(model, up4), _input_coordinate(model, _vgg_path("pool3") + ["score_pool3"])
            )
            final = up4 + ["upscore8"]
    expected["score"] = _crop_offset((1.0, 0.0), _input_coordinate(model, final))
    assert model.crops == expected
    # the reference nets' numbers
    reference = {
        32: {"score": 19},
        16: {"score_pool4c": 5, "score": 27},
        8: {"score_pool4c": 5, "score_pool3c": 9, "score": 31},
    }
    assert model.crops == reference[output_stride]


# -- parameter counts -------------------------------------------------------------------------------------


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


VGG16_CONVS = (
    conv(3, 64, 3)
    + conv(64, 64, 3)  # 1,792 + 36,928
    + conv(64, 128, 3)
    + conv(128, 128, 3)  # 73,856 + 147,584
    + conv(128, 256, 3)
    + 2 * conv(256, 256, 3)  # 295,168 + 2 x 590,080
    + conv(256, 512, 3)
    + 2 * conv(512, 512, 3)  # 1,180,160 + 2 x 2,359,808
    + 3 * conv(512, 512, 3)  # 3 x 2,359,808
)
FC6 = conv(512, 4096, 7)  # 102,764,544: torchvision's Linear(25088, 4096)
FC7 = conv(4096, 4096, 1)  # 16,781,312
C = 21
SCORE_FR, SCORE_POOL4, SCORE_POOL3 = conv(4096, C, 1), conv(512, C, 1), conv(256, C, 1)  # 86,037 10,773 5,397


def deconv(k: int) -> int:
    return conv(C, C, k, bias=False)  # 21 x 21 x k x k


FCN_PARAMS = {
    32: VGG16_CONVS + FC6 + FC7 + SCORE_FR + deconv(64),
    16: VGG16_CONVS + FC6 + FC7 + SCORE_FR + SCORE_POOL4 + deconv(4) + deconv(32),
    8: VGG16_CONVS + FC6 + FC7 + SCORE_FR + SCORE_POOL4 + SCORE_POOL3 + 2 * deconv(4) + deconv(16),
}


def test_reference_counts_written_out():
    assert VGG16_CONVS == 14_714_688  # torchvision's vgg16().features
    assert FCN_PARAMS == {32: 136_152_917, 16: 134_815_994, 8: 134_489_759}


@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_fcn_parameter_count(output_stride):
    assert num_params(on_meta(FCN_BUILDERS[output_stride], num_classes=C)) == FCN_PARAMS[output_stride]


def unet_params(num_classes: int, in_channels: int = 3, batch_norm: bool = False) -> int:
    def double(cin: int, cout: int) -> int:
        # with batch norm the conv bias goes and each BN brings a weight and a bias per channel
        extra = 2 * cout if batch_norm else 0
        return conv(cin, cout, 3, bias=not batch_norm) + conv(cout, cout, 3, bias=not batch_norm) + 2 * extra

    def upconv(cin: int, cout: int) -> int:
        return conv(cin, cout, 2)

    return (
        double(in_channels, 64)
        + double(64, 128)
        + double(128, 256)
        + double(256, 512)  # contracting path
        + double(512, 1024)  # bottom
        + upconv(1024, 512)
        + double(1024, 512)
        + upconv(512, 256)
        + double(512, 256)
        + upconv(256, 128)
        + double(256, 128)
        + upconv(128, 64)
        + double(128, 64)
        + conv(64, num_classes, 1)
    )


def test_unet_parameter_count():
    # 38,720 + 221,440 + 885,248 + 3,539,968 (contracting) + 14,157,824 (bottom)
    # + 2,097,664 + 7,078,912 + 524,544 + 1,769,984 + 131,200 + 442,624 + 32,832 + 110,720 (expanding)
    # + 130 (1x1 to 2 classes)
    assert unet_params(2) == 31_031_810
    # the often quoted 31,031,745 is the one-class (sigmoid) U-Net: the classifier has 65, not 130, parameters
    assert unet_params(1) == 31_031_745
    assert num_params(on_meta(classic.unet_original, num_classes=2)) == 31_031_810
    assert num_params(on_meta(classic.unet_original, num_classes=1)) == 31_031_745
    assert num_params(on_meta(classic.unet_original, num_classes=21)) == unet_params(21)
    assert num_params(on_meta(classic.unet_original, num_classes=2, in_channels=1)) == unet_params(2, 1)
    with_bn = on_meta(classic.unet_original, num_classes=2, batch_norm=True)
    assert num_params(with_bn) == unet_params(2, batch_norm=True) == 31_031_810 + 5_888


# -- ImageNet VGG16 ---------------------------------------------------------------------------------------


def test_fcn_imagenet_weights_fill_vgg_and_fully_connected_layers(monkeypatch):
    from torchvision.models import VGG16_Weights, vgg16

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in vgg16().state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shape, generator=generator) for k, shape in shapes.items()}
    requested = []

    def fake_get_state_dict(self, *args, **kwargs):  # no download: the weights' shapes, random values
        requested.append(self)
        return state

    monkeypatch.setattr(VGG16_Weights, "get_state_dict", fake_get_state_dict)
    model = classic.fcn32s_vgg16(num_classes=4, encoder_weights="imagenet").eval()
    assert requested == [VGG16_Weights.IMAGENET1K_V1]

    assert torch.equal(model.conv1_1.weight, state["features.0.weight"])
    assert torch.equal(model.conv3_3.bias, state["features.14.bias"])
    assert torch.equal(model.conv5_3.weight, state["features.28.weight"])
    # fc6 on a 7x7 pool5 is torchvision's first Linear on the flattened (C, H, W) pool5
    pool5 = torch.randn(1, 512, 7, 7, generator=generator)
    with torch.no_grad():
        as_conv = model.fc6(pool5).flatten()
        as_linear = F.linear(pool5.flatten(1), state["classifier.0.weight"], state["classifier.0.bias"])[0]
        assert torch.allclose(as_conv, as_linear, rtol=1e-4, atol=1e-3)
        fc7_in = torch.randn(1, 4096, 1, 1, generator=generator)
        as_linear = F.linear(fc7_in.flatten(1), state["classifier.3.weight"], state["classifier.3.bias"])[0]
        assert torch.allclose(model.fc7(fc7_in).flatten(), as_linear, rtol=1e-4, atol=1e-3)
    assert torch.count_nonzero(model.score_fr.weight) == 0


# -- builder arguments and registration -------------------------------------------------------------------


@pytest.mark.parametrize("builder", list(FCN_BUILDERS.values()), ids=lambda b: b.__name__)
def test_fcn_rejects_unknown_arguments(builder):
    with pytest.raises(TypeError, match="in_chanels.*pretrained|pretrained.*in_chanels"):
        builder(in_chanels=1, pretrained=True)
    with pytest.raises(ValueError, match="encoder_weights"):
        builder(encoder_weights="imagenet21k")


def test_unet_rejects_unknown_arguments():
    with pytest.raises(TypeError):
        classic.unet_original(encoder_weights="imagenet")


@pytest.mark.parametrize("name", ["fcn32s-vgg16", "fcn16s-vgg16", "fcn8s-vgg16", "unet-original"])
def test_registered(name):
    entry = zoo.info(f"classic:{name}")
    assert entry.family == "classic" and entry.weights == () and entry.paper.startswith("https://arxiv.org/")
    assert entry.builder.__doc__ and "num_classes" in entry.builder.__doc__
    assert name in zoo.list_models("*") or f"classic:{name}" in zoo.list_models("*")


def test_importing_classic_does_not_import_torch():
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    code = "import sys, zoo.models.classic; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
