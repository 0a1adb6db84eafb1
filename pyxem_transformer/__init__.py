"""Orientation and phase mapping of 4D-STEM data with a transformer.

Importing the package adds ``get_orientation_map_transformer`` to pyxem's
``Diffraction2D`` signals.
"""

from . import data, metrics, phase_io, phases
from ._version import __version__
from .signal_methods import attach_signal_methods

attach_signal_methods()

__all__ = ["__version__", "data", "metrics", "phase_io", "phases"]
