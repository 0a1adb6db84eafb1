"""hyperspy signals: the result signal registered with hyperspy, and the
methods that ``import pyxem_transformer`` adds to pyxem's signals."""

from pyxem_transformer.signals.diffraction2d import attach_signal_methods
from pyxem_transformer.signals.orientation_map import (
    LazyTransformerOrientationMap,
    TransformerOrientationMap,
)

__all__ = [
    "LazyTransformerOrientationMap",
    "TransformerOrientationMap",
    "attach_signal_methods",
]
