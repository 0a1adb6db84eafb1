"""From patterns to tokens: peak finding, the one token path, augmentation,
the calibration check and preprocessing."""

from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.augment import AugmentationSettings, augment_peaks
from pyxem_transformer.tokens.calibration import (
    CalibrationCheck,
    CalibrationWarning,
    estimate_calibration,
)
from pyxem_transformer.tokens.checks import (
    DataWarning,
    calibration_for_mapping,
    check_calibration,
    check_data_sample,
    check_reciprocal_range,
)
from pyxem_transformer.tokens.origin import BeamFinding, locate_beams, recentre
from pyxem_transformer.tokens.peaks import (
    find_peaks_batched,
    peaks_from_diffraction_vectors,
)
from pyxem_transformer.tokens.preprocessing import preprocess
from pyxem_transformer.tokens.tokenize import FEATURES, TokenSettings, make_tokens

__all__ = [
    "FEATURES",
    "AugmentationSettings",
    "BeamFinding",
    "CalibrationCheck",
    "CalibrationWarning",
    "DataWarning",
    "PeakSet",
    "TokenSettings",
    "augment_peaks",
    "calibration_for_mapping",
    "check_calibration",
    "check_data_sample",
    "check_reciprocal_range",
    "estimate_calibration",
    "find_peaks_batched",
    "locate_beams",
    "make_tokens",
    "peaks_from_diffraction_vectors",
    "preprocess",
    "recentre",
]
