"""Signal classes registered with hyperspy by this package."""

from .orientation_map import LazyTransformerOrientationMap, TransformerOrientationMap

__all__ = ["LazyTransformerOrientationMap", "TransformerOrientationMap"]
