"""Training sets of simulated spot lists, cached on disk: kinematic and
precession (diffsims), dynamical (abTEM Bloch waves)."""

from pyxem_transformer.simulation.frame import detector_frame
from pyxem_transformer.simulation.sampling import random_rotations
from pyxem_transformer.simulation.spots import (
    SimulationSettings,
    SpotSet,
    default_cache_dir,
    simulate_spots,
)

__all__ = [
    "SimulationSettings",
    "SpotSet",
    "default_cache_dir",
    "detector_frame",
    "random_rotations",
    "simulate_spots",
]
