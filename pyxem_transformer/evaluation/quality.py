"""The fit-quality figure of any method's map, and how well it tells right
pixels from wrong ones.

:func:`judge_fit_quality` scores a ``CrystalMap`` (ours or template
matching's) by :func:`pyxem_transformer.mapping.quality.fit_quality` on the
same tokens (this package's peak finder, each pattern measured from its own
beam), so both methods are judged alike, and reports the ROC AUC with which
the figure separates pixels within 5° of the truth from the others.
"""

import numpy as np

from pyxem_transformer._validation import reciprocal_calibration
from pyxem_transformer.evaluation import metrics
from pyxem_transformer.mapping.quality import fit_quality
from pyxem_transformer.mapping.table import BEAM_SEARCH
from pyxem_transformer.tokens.origin import locate_beams, recentre
from pyxem_transformer.tokens.peaks import find_peaks_batched
from pyxem_transformer.tokens.tokenize import make_tokens

__all__ = ["confidence_auc", "judge_fit_quality", "roc_auc"]


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the ``positive`` pixels.

    Parameters
    ----------
    score
        Higher means more likely positive; NaN ranks lowest.
    positive
        Boolean labels.

    Returns
    -------
    auc
        The probability that a random positive outscores a random negative
        (ties count half); NaN if either class is empty.

    Examples
    --------
    >>> roc_auc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False]))
    1.0
    """
    score = np.nan_to_num(np.asarray(score, float).ravel(), nan=-np.inf)
    positive = np.asarray(positive, bool).ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    ranks = np.empty(score.size)
    ranks[order] = np.arange(1, score.size + 1)
    # Ties share their mean rank.
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def judge_fit_quality(xmap, signal, model, truth) -> dict:
    """Fit quality of a map's answers and how it ranks right and wrong pixels.

    Parameters
    ----------
    xmap
        The method's orix ``CrystalMap`` (phases matched to the model's by
        name; pixels of other or no phase count as not explained).
    signal
        The mapped ``Diffraction2D`` (calibrated in 1/Å).
    model
        A model with the map's phases (its token settings and lattices).
    truth
        The ground-truth ``CrystalMap``.

    Returns
    -------
    figures
        ``explained_median`` (median fraction of tokens explained),
        ``quality_auc`` (ROC AUC of ``explained`` for pixels under 5°) and
        the per-pixel ``explained`` array.
    """
    scale, offset = reciprocal_calibration(signal)
    images = np.asarray(signal.data).reshape(-1, *signal.data.shape[-2:])
    peaks = find_peaks_batched(images, tuple(scale), tuple(offset))
    radius = BEAM_SEARCH * model.token_settings.direct_beam_radius
    nav = signal.axes_manager.navigation_shape[::-1]
    peaks = recentre(peaks, locate_beams(peaks, radius, nav).xy)
    tokens, mask = make_tokens(peaks, model.token_settings)
    names = [p.name for p in model.phases]
    ids = xmap.phase_id.ravel()
    index = np.array(
        [
            names.index(xmap.phases[i].name)
            if i >= 0 and xmap.phases[i].name in names
            else -1
            for i in ids
        ]
    )
    rotations = xmap.rotations.data.reshape(len(ids), -1, 4)[:, 0]
    explained, _ = fit_quality(rotations, index, tokens, mask, model)
    angle = metrics.compare_crystal_maps(xmap, truth).misorientation.ravel()
    right = np.nan_to_num(angle, nan=180.0) < 5
    return {
        "explained_median": float(np.median(explained)),
        "quality_auc": roc_auc(explained, right),
        "explained": explained,
    }


def confidence_auc(xmap, truth) -> float:
    """How well a map's ``confidence`` property ranks its right pixels.

    Parameters
    ----------
    xmap
        A ``CrystalMap`` with a ``confidence`` property (this package's maps).
    truth
        The ground-truth ``CrystalMap``.

    Returns
    -------
    auc
        ROC AUC of the confidence for pixels within 5° of the truth (right
        phase); NaN if the map has no confidence or one class is empty.
    """
    if "confidence" not in xmap.prop:
        return float("nan")
    angle = metrics.compare_crystal_maps(xmap, truth).misorientation.ravel()
    right = np.nan_to_num(angle, nan=180.0) < 5
    return roc_auc(np.asarray(xmap.prop["confidence"]), right)
