"""The registry's naming rules, checked on a private registry (mechanics) and on the real one (content)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import zoo
from zoo.errors import UnknownModelError, UnknownWeightsError, ZooDeprecationWarning
from zoo.registry import ModelEntry, Registry, natural_key, normalize_architecture, register_model
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol, WeightRecord

PROTOCOL = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="none")


def record(tag: str) -> WeightRecord:
    return WeightRecord(
        tag=tag, dataset="voc", trained_on="test", class_names=("a", "b"), protocol=PROTOCOL, license="MIT",
        url=f"https://example.invalid/{tag}.pth", sha256="0" * 64,
    )  # fmt: skip


def entry(name: str, family: str = "fam", priority: int = 0, weights=()) -> ModelEntry:
    architecture, _, encoder = name.partition("-")
    return ModelEntry(
        architecture, encoder, family, builder=lambda **kw: name, priority=priority, weights=weights
    )


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    names = ("unet-resnet34", "unet-efficientnet-b3", "deeplabv3plus-resnet101", "upernet-tu-convnext_tiny")
    for name in names:
        reg.register(entry(name))
    reg.register(entry("deeplabv3-resnet101", family="generic", priority=10))
    reg.register(entry("deeplabv3-resnet101", family="reference", priority=30, weights=(record("coco_voc"),)))
    return reg


@pytest.mark.parametrize(
    "spelling",
    ["deeplabv3plus", "deeplabv3+", "deeplab_v3_plus", "DeepLabV3Plus", "DeepLab_V3+", "deeplabv3p"],
)
def test_architecture_spellings_people_type_resolve_silently(registry, spelling):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found, weights = registry.resolve(f"{spelling}-resnet101")
    assert found.name == "deeplabv3plus-resnet101" and weights is None


def test_unet_plus_plus_spellings_normalise():
    spellings = ("unet++", "Unet++", "UnetPlusPlus", "unet_pp")
    assert {normalize_architecture(s) for s in spellings} == {"unetplusplus"}


@pytest.mark.parametrize(
    ("name", "encoder"),
    [("unet-efficientnet-b3", "efficientnet-b3"), ("upernet-tu-convnext_tiny", "tu-convnext_tiny")],
)
def test_hyphenated_encoders_parse_unambiguously(registry, name, encoder):
    found, _ = registry.resolve(name)
    assert (found.architecture, found.encoder) == (name.split("-")[0], encoder)


def test_tag_selects_weights_and_unknown_tag_lists_the_known_ones(registry):
    found, weights = registry.resolve("deeplabv3-resnet101.coco_voc")
    assert found.family == "reference" and weights.tag == "coco_voc"
    with pytest.raises(UnknownWeightsError, match="coco_voc"):
        registry.resolve("deeplabv3-resnet101.coco_vo")


def test_a_dot_that_is_no_tag_belongs_to_the_encoder():
    reg = Registry()
    reg.register(entry("unet-tu-convnext_tiny.fb_in1k"))
    found, weights = reg.resolve("unet-tu-convnext_tiny.fb_in1k")
    assert found.encoder == "tu-convnext_tiny.fb_in1k" and weights is None


def test_bare_name_means_the_highest_priority_family_and_both_stay_reachable(registry):
    assert registry.resolve("deeplabv3-resnet101")[0].family == "reference"
    assert registry.resolve("generic:deeplabv3-resnet101")[0].family == "generic"
    assert registry.resolve("reference:deeplabv3-resnet101")[0].family == "reference"
    names = registry.list_models("deeplabv3-*")
    assert names == ["deeplabv3-resnet101", "generic:deeplabv3-resnet101"]


def test_equal_priorities_for_one_name_are_refused(registry):
    with pytest.raises(ValueError, match="ambiguous"):
        registry.register(entry("deeplabv3-resnet101", family="third", priority=30))
    families = [e.family for e in registry.entries() if e.name == "deeplabv3-resnet101"]
    assert families == ["reference", "generic"]


def test_duplicate_in_one_family_is_refused(registry):
    with pytest.raises(ValueError, match="already registered"):
        registry.register(entry("unet-resnet34"))


def test_unknown_name_lists_closest_matches(registry):
    with pytest.raises(UnknownModelError, match="closest: unet-resnet34"):
        registry.resolve("unet-resnet43")


def test_renamed_name_resolves_with_a_deprecation_warning(registry):
    registry.rename("unet-r34", "unet-resnet34")
    with pytest.warns(ZooDeprecationWarning, match="renamed to 'unet-resnet34'"):
        found, _ = registry.resolve("unet-r34")
    assert found.name == "unet-resnet34"


def test_on_demand_entries_resolve_but_are_listed_only_when_asked():
    reg = Registry()
    reg.register(entry("unet-resnet34"))
    reg.add_resolver("fam", lambda arch, enc: entry(f"{arch}-{enc}") if enc.startswith("tu-") else None)
    reg.add_enumerator(lambda: ["unet-tu-a", "unet-tu-b"])
    assert reg.resolve("unet-tu-anything")[0].encoder == "tu-anything"
    assert reg.list_models() == ["unet-resnet34"]
    assert reg.list_models("unet-tu-*", include_on_demand=True) == ["unet-tu-a", "unet-tu-b"]


def test_register_weights_adds_a_tag(registry):
    registry.add_weights("unet-resnet34", record("voc"))
    assert registry.resolve("unet-resnet34.voc")[1].tag == "voc"
    with pytest.raises(ValueError, match="already has"):
        registry.add_weights("unet-resnet34", record("voc"))


def test_invalid_weight_records_are_refused_at_registration():
    bad = WeightRecord(
        tag="Bad-Tag", dataset="voc", trained_on="x", class_names=("a",), protocol=PROTOCOL, license="",
        url="http://insecure.invalid/w.txt",
    )  # fmt: skip
    with pytest.raises(ValueError) as error:
        register_model("thing-one", weights=[bad], registry=Registry())(lambda **kw: None)
    for problem in ("tag 'Bad-Tag'", "not https", "neither a torch checkpoint", "license is empty"):
        assert problem in str(error.value)


def test_natural_sort():
    assert sorted(["mit_b10", "mit_b2", "resnet101", "resnet18"], key=natural_key) == [
        "mit_b2", "mit_b10", "resnet18", "resnet101",
    ]  # fmt: skip


# -- the real registry ----------------------------------------------------------------------------------


def test_list_models_patterns_and_sorting():
    names = zoo.list_models("deeplabv3plus-*")
    assert "deeplabv3plus-resnet101" in names and "deeplabv3plus-efficientnet-b3" in names
    assert names == sorted(names, key=natural_key)
    assert all(n.startswith("deeplabv3plus-") for n in names)
    both = zoo.list_models(["unet-resnet34", "fpn-resnet34"])
    assert both == ["fpn-resnet34", "unet-resnet34"]


def test_pretrained_listing_by_dataset():
    assert zoo.list_models(pretrained=True, dataset="voc") == [
        "deeplabv3-mobilenet_v3_large.coco_voc", "deeplabv3-resnet50.coco_voc",
        "deeplabv3-resnet101.coco_voc", "fcn-resnet50.coco_voc", "fcn-resnet101.coco_voc", "lraspp-mobilenet_v3_large.coco_voc",
        "maskrcnn-resnet50_fpn.coco", "maskrcnn-resnet50_fpn_v2.coco",
    ]  # fmt: skip
    segformers = zoo.list_models("segformer-*", dataset="ade20k")
    assert segformers == [f"segformer-mit_b{i}.ade20k" for i in range(6)]
    every = zoo.list_models(pretrained=True)
    # torchvision's 6 segmenters and 2 Mask R-CNNs, 12 SegFormers, smp's 8 UPerNets and 1 DPT
    assert len(every) == 6 + 2 + 12 + 9 and all("." in n for n in every)


def test_torchvision_wins_deeplabv3_resnet101_and_smp_stays_reachable():
    assert zoo.info("deeplabv3-resnet101").family == "torchvision"
    assert zoo.info("smp:deeplabv3-resnet101").family == "smp"
    assert "smp:deeplabv3-resnet101" in zoo.list_models("deeplabv3-*")


def test_every_smp_architecture_is_listed():
    architectures = {zoo.info(n).architecture for n in zoo.list_models() if zoo.info(n).family == "smp"}
    assert architectures == {
        "unet", "unetplusplus", "manet", "linknet", "fpn", "pspnet", "deeplabv3", "deeplabv3plus", "pan",
        "upernet", "segformer", "dpt",
    }  # fmt: skip


def test_timm_encoders_are_made_on_demand():
    found = zoo.info("upernet-tu-convnext_nano")  # convnext_tiny is stored: smp published weights for it
    assert (found.family, found.encoder) == ("smp", "tu-convnext_nano")
    assert not any("tu-convnext_nano" in n for n in zoo.list_models("upernet-*"))
    with pytest.raises(UnknownModelError):
        zoo.info("upernet-tu-no_such_timm_model")


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_and_listing_do_not_import_torch_timm_or_smp():
    heavy = _run(
        "import sys, zoo; zoo.list_models(); zoo.list_models(pretrained=True); zoo.info('segformer-mit_b2');"
        "heavy = ('torch', 'timm', 'torchvision', 'segmentation_models_pytorch');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert heavy.strip() == "[]"


def test_unregister_removes_one_family_only(registry):
    registry.unregister("generic:deeplabv3-resnet101")
    assert [e.family for e in registry.entries() if e.name == "deeplabv3-resnet101"] == ["reference"]
    with pytest.raises(UnknownModelError, match="to unregister"):
        registry.unregister("generic:deeplabv3-resnet101")


def test_expand_turns_command_line_patterns_into_names_in_order(registry):
    assert registry.expand(["unet-*", "deeplabv3plus-resnet101", "unet-resnet34", "nothing-*"]) == [
        "unet-efficientnet-b3", "unet-resnet34", "deeplabv3plus-resnet101", "nothing-*",
    ]  # fmt: skip
