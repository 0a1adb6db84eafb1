"""Orientation and phase mapping of 4D-STEM data with a transformer.

Importing the package adds ``get_orientation_map_transformer`` to pyxem's
``Diffraction2D`` signals.
"""

from . import data, metrics, phase_io, phases
from ._version import __version__
from .calibration import check_calibration
from .cif import phase_from_cif
from .model import ModelConfig, OrientationTransformer, load_model
from .model_zoo import pretrained
from .preprocessing import preprocess
from .signal_methods import attach_signal_methods
from .train import train_model

attach_signal_methods()

__all__ = [
    "ModelConfig",
    "OrientationTransformer",
    "__version__",
    "check_calibration",
    "data",
    "load_model",
    "metrics",
    "phase_from_cif",
    "phase_io",
    "phases",
    "preprocess",
    "pretrained",
    "train_model",
]
