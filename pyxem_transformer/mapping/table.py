"""From a batch of found peaks to the per-pixel result table."""

import numpy as np

from pyxem_transformer.mapping.predict import predict_tokens
from pyxem_transformer.mapping.quality import fit_quality
from pyxem_transformer.mapping.result import COLUMNS
from pyxem_transformer.mapping.tilt import beam_ratio
from pyxem_transformer.model.network import OrientationTransformer
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.origin import locate_beams, recentre
from pyxem_transformer.tokens.tokenize import make_tokens

__all__ = ["BEAM_SEARCH", "orientation_table"]

#: The beam is looked for within this many times the model's direct-beam
#: radius of the stored centre (0.24 1/Å, 12 pixels at 0.02 1/Å per pixel,
#: for the shipped models): descan moves it by several pixels.
BEAM_SEARCH = 2.0


def orientation_table(
    peaks: PeakSet,
    model: OrientationTransformer,
    n_best: int = 1,
    batch_size: int = 1024,
    device: str = "auto",
    refine: bool | str = True,
    field: tuple[float, float, float, float] | None = None,
    find_beam: bool = True,
    scan_shape: tuple[int, ...] | None = None,
    undistortion: np.ndarray | None = None,
) -> np.ndarray:
    """Return the ``(n, n_best, len(COLUMNS))`` result table of a peak set.

    Parameters
    ----------
    peaks
        Peaks of ``n`` patterns in 1/Å, relative to the stored centre.
    model
        The model.
    n_best
        Candidates per pattern.
    batch_size
        Patterns per forward pass.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    refine
        Fit the rotations to the peaks
        (:func:`pyxem_transformer.mapping.predict.predict_tokens`).
    field
        Where on the detector peaks can be found, ``(kx_min, kx_max, ky_min,
        ky_max)`` in 1/Å (:func:`detector_field`); None if not known.
    find_beam
        Measure each pattern's tokens from its own direct beam
        (:func:`pyxem_transformer.tokens.origin.locate_beams`), not from the
        stored centre.
    scan_shape
        Navigation shape of the patterns (row-major), for the descan fit
        that stands in where a beam cannot be found; None if not a grid.
    undistortion
        2x2 map that undoes the projector lens's distortion of positions
        about the beam (from the calibration check); None for none.

    Returns
    -------
    table
        Float32 array with the columns of the result signal
        (:data:`pyxem_transformer.mapping.result.COLUMNS`).
    """
    beams = np.zeros((peaks.n_patterns, 2))
    if find_beam:
        radius = BEAM_SEARCH * model.token_settings.direct_beam_radius
        beams = locate_beams(peaks, radius, scan_shape).xy
    if find_beam or undistortion is not None:
        peaks = recentre(peaks, beams, undistortion)
        if field is not None and len(beams):
            dx, dy = np.median(beams, axis=0)
            field = (field[0] - dx, field[1] - dx, field[2] - dy, field[3] - dy)
    tokens, mask = make_tokens(peaks, model.token_settings)
    beam = beam_ratio(peaks, model.token_settings) if refine == "dynamical" else None
    p = predict_tokens(
        model, tokens, mask, n_best, batch_size, device, refine, field=field, beam=beam
    )
    quality = [
        fit_quality(p.quaternions[:, k], p.phase_index[:, k], tokens, mask, model)
        for k in range(n_best)
    ]
    shape = p.phase_index.shape
    columns = {
        "phase_index": p.phase_index,
        "confidence": p.confidence,
        "n_tokens": np.broadcast_to(p.n_tokens[:, None], shape),
        "explained": np.stack([q[0] for q in quality], 1),
        "fit_rms": np.stack([q[1] for q in quality], 1),
        "beam_kx": np.broadcast_to(beams[:, :1], shape),
        "beam_ky": np.broadcast_to(beams[:, 1:], shape),
    }
    return np.concatenate(
        [p.quaternions] + [columns[c][..., None] for c in COLUMNS[4:]], axis=-1
    ).astype(np.float32)
