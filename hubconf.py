"""torch.hub entry points, so zoo loads the way torchvision does:

    model = torch.hub.load("<owner>/zoo", "create", "deeplabv3-resnet101", pretrained=True)
    model = torch.hub.load("/path/to/zoo", "create", "unet-resnet18", num_classes=3, source="local")
    names = torch.hub.load("<owner>/zoo", "list_models", "segformer-*")

Each entry point is zoo's own function (same arguments, same errors); see ``zoo.create`` and ``zoo.list_models``.
"""

# torch.hub checks these are importable before loading this file (its `dependencies` convention).
dependencies = ["torch", "torchvision", "timm", "segmentation_models_pytorch", "safetensors", "platformdirs"]

from zoo import create, list_models  # noqa: E402  (after `dependencies`, as torch.hub's own hubconf files do)

__all__ = ["create", "list_models"]
