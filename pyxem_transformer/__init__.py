"""Orientation and phase mapping of 4D-STEM data with a transformer.

Importing the package adds ``get_orientation_map_transformer`` to pyxem's
``Diffraction2D`` signals.

The subpackages follow the data flow: :mod:`~pyxem_transformer.crystal` →
:mod:`~pyxem_transformer.simulation` → :mod:`~pyxem_transformer.tokens` →
:mod:`~pyxem_transformer.model` → :mod:`~pyxem_transformer.mapping` →
:mod:`~pyxem_transformer.signals`, with :mod:`~pyxem_transformer.evaluation`
apart. The names below and each subpackage's ``__all__`` are the public API.
"""

import importlib

from pyxem_transformer import _moved
from pyxem_transformer._version import __version__
from pyxem_transformer.crystal import phase_from_cif, phase_io, phases
from pyxem_transformer.evaluation import data, metrics
from pyxem_transformer.model import (
    ModelConfig,
    OrientationTransformer,
    load_model,
    pretrained,
    train_model,
)
from pyxem_transformer.signals.diffraction2d import attach_signal_methods
from pyxem_transformer.tokens import check_calibration, preprocess

attach_signal_methods()
_moved.install()

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


def __getattr__(name: str):
    # ``pxt.train`` and other old module attributes: deprecated, see _moved.
    if name in _moved.MOVED:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
