"""Judging the method apart from the pipeline: simulated samples with ground
truth, accuracy metrics, the side-by-side benchmark with template matching,
the demo and the domain-gap measure.

The benchmark, demo and domain-gap modules are imported on use (they pull
in plotting and template matching); ``data`` and ``metrics`` are here.
"""

from pyxem_transformer.evaluation import data, metrics
from pyxem_transformer.evaluation.data import SimulatedSample, simulated_grains
from pyxem_transformer.evaluation.dynamical import dynamical_grains
from pyxem_transformer.evaluation.measured import Artefacts, realistic_grains
from pyxem_transformer.evaluation.metrics import (
    AccuracySummary,
    CrystalMapComparison,
    compare_crystal_maps,
    misorientation_angles,
    summarize,
    zone_axis_angles,
)

__all__ = [
    "AccuracySummary",
    "Artefacts",
    "CrystalMapComparison",
    "SimulatedSample",
    "compare_crystal_maps",
    "data",
    "dynamical_grains",
    "metrics",
    "misorientation_angles",
    "realistic_grains",
    "simulated_grains",
    "summarize",
    "zone_axis_angles",
]
