"""From tokens to orientations: batched prediction, the fit to the peaks
(and the dynamical tilt search), lazy mapping of whole scans, and the
predicted spots of an answer."""

from pyxem_transformer.mapping.inference import (
    detector_field,
    map_orientations,
    map_vectors,
)
from pyxem_transformer.mapping.markers import predicted_spots
from pyxem_transformer.mapping.missing import missing_reflections
from pyxem_transformer.mapping.predict import Prediction, predict_tokens
from pyxem_transformer.mapping.prior import pattern_prior_sigma, prior_sigma
from pyxem_transformer.mapping.quality import fit_quality
from pyxem_transformer.mapping.refine import Refinement, refine_rotations
from pyxem_transformer.mapping.result import (
    COLUMNS,
    orientation_map_from_arrays,
    result_signal,
)
from pyxem_transformer.mapping.table import orientation_table
from pyxem_transformer.mapping.tilt import (
    beam_ratio,
    score_rotations,
    search_tilt,
    tilt_profile,
)

__all__ = [
    "COLUMNS",
    "Prediction",
    "Refinement",
    "beam_ratio",
    "detector_field",
    "fit_quality",
    "map_orientations",
    "map_vectors",
    "missing_reflections",
    "orientation_map_from_arrays",
    "orientation_table",
    "predict_tokens",
    "predicted_spots",
    "pattern_prior_sigma",
    "prior_sigma",
    "refine_rotations",
    "result_signal",
    "score_rotations",
    "search_tilt",
    "tilt_profile",
]
