"""The network, its rotations and symmetric loss, training, and the shipped
models."""

from pyxem_transformer.model.device import resolve_device
from pyxem_transformer.model.network import (
    ModelConfig,
    OrientationTransformer,
    load_model,
)
from pyxem_transformer.model.rotations import (
    equivalence_operators,
    matrix_to_quaternion,
    rotation_from_6d,
    symmetric_angle,
)
from pyxem_transformer.model.train import train_model
from pyxem_transformer.model.zoo import available, pretrained

__all__ = [
    "ModelConfig",
    "OrientationTransformer",
    "available",
    "equivalence_operators",
    "load_model",
    "matrix_to_quaternion",
    "pretrained",
    "resolve_device",
    "rotation_from_6d",
    "symmetric_angle",
    "train_model",
]
