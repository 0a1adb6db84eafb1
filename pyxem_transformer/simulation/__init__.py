"""Training sets of simulated spot lists (diffsims), cached on disk."""

from pyxem_transformer.simulation.sampling import random_rotations
from pyxem_transformer.simulation.spots import (
    SimulationSettings,
    SpotSet,
    default_cache_dir,
    detector_frame,
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
