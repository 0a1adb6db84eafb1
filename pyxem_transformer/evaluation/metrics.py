"""Orientation and phase accuracy against a ground truth.

Conventions
-----------
* Orientations are compared as orix orientations with the point group of
  the phase, so symmetry-equivalent answers score zero.
* A zero-order (kinematical, single Laue zone) pattern obeys Friedel's law
  and cannot tell a rotation ``R`` from ``R * Rz(180°)``, its twin turned
  by half a turn about the beam. With ``friedel=True`` (the default) the
  misorientation is the smaller of the two angles, ``min(ω(P, R),
  ω(P, R * Rz(180°)))``. With ``friedel=False`` the twin counts as wrong.
  Every summary records which rule was used.
* The zone-axis error is the angle between the beam directions in the
  crystal frames (``O * z``), reduced by the Laue group; it ignores the
  in-plane angle and is what pyxem's own tests compare.
* A pixel whose predicted phase differs from the true phase has no
  misorientation (``NaN``) and counts as a failure in every fraction;
  medians are taken over all pixels with such failures ranked last.
"""

from dataclasses import asdict, dataclass

import numpy as np
from orix.crystal_map import CrystalMap
from orix.quaternion import Orientation, Rotation
from orix.quaternion.symmetry import Symmetry

__all__ = [
    "FRIEDEL_TWIN",
    "AccuracySummary",
    "CrystalMapComparison",
    "compare_crystal_maps",
    "misorientation_angles",
    "summarize",
    "zone_axis_angles",
]

#: Half a turn about the beam (z): ``R * FRIEDEL_TWIN`` gives the same
#: zero-order pattern as ``R`` rotated by 180° in the detector plane.
FRIEDEL_TWIN = Rotation.from_axes_angles([0, 0, 1], np.pi)


def _as_rotation(rotations: Rotation | np.ndarray) -> Rotation:
    if isinstance(rotations, Rotation):
        return Rotation(rotations.data.reshape(-1, 4))
    data = np.asarray(rotations, dtype=float)
    if data.shape[-1] != 4:
        raise ValueError(
            f"Expected rotations as unit quaternions with a last axis of 4, "
            f"got an array of shape {data.shape}."
        )
    return Rotation(data.reshape(-1, 4))


def misorientation_angles(
    rotations: Rotation | np.ndarray,
    reference: Rotation | np.ndarray,
    point_group: Symmetry,
    friedel: bool = True,
) -> np.ndarray:
    """Return symmetry-reduced misorientation angles in degrees.

    Parameters
    ----------
    rotations, reference
        Rotations (orix or quaternion arrays ``(..., 4)``) of equal size,
        compared element by element.
    point_group
        Point group of the phase, e.g. ``phase.point_group``.
    friedel
        If True, also compare with ``reference * FRIEDEL_TWIN`` and keep
        the smaller angle (see the module notes).

    Returns
    -------
    angles
        Flat array of angles in degrees.

    Examples
    --------
    >>> import numpy as np
    >>> from orix.quaternion import Rotation
    >>> from pyxem_transformer import metrics, phases
    >>> pg = phases.cu().point_group
    >>> r = Rotation.from_axes_angles([0, 0, 1], np.deg2rad([10, 95]))
    >>> np.round(metrics.misorientation_angles(r, Rotation.identity((2,)), pg), 3)
    array([10.,  5.])
    """
    a = _as_rotation(rotations)
    b = _as_rotation(reference)
    if a.size != b.size:
        raise ValueError(
            f"Cannot compare {a.size} rotations with {b.size} reference rotations."
        )
    oa = Orientation(a.data, symmetry=point_group)
    angles = oa.angle_with(Orientation(b.data, symmetry=point_group), degrees=True)
    if friedel:
        twin = Orientation((b * FRIEDEL_TWIN).data, symmetry=point_group)
        angles = np.minimum(angles, oa.angle_with(twin, degrees=True))
    return np.asarray(angles, dtype=float).reshape(-1)


def zone_axis_angles(
    rotations: Rotation | np.ndarray,
    reference: Rotation | np.ndarray,
    point_group: Symmetry,
) -> np.ndarray:
    """Return the angle in degrees between the beam directions in the crystal.

    The beam direction ``O * z`` of each orientation is compared with all
    Laue-group equivalents of the reference one; the in-plane angle plays no
    part, and neither does the sign of the direction (Friedel's law).

    Parameters
    ----------
    rotations, reference
        Rotations of equal size, compared element by element.
    point_group
        Point group of the phase.

    Returns
    -------
    angles
        Flat array of angles in degrees.
    """
    a = _as_rotation(rotations)
    b = _as_rotation(reference)
    if a.size != b.size:
        raise ValueError(
            f"Cannot compare {a.size} rotations with {b.size} reference rotations."
        )
    z = np.array([0.0, 0.0, 1.0])
    # Orientations map sample to crystal coordinates, so O * z is the beam
    # direction in the crystal frame.
    va = Orientation(a.data).to_matrix() @ z
    vb = Orientation(b.data).to_matrix() @ z
    ops = point_group.laue.to_matrix()  # includes inversion: covers -v
    equivalents = np.einsum("sij,nj->nsi", ops, vb)
    cosines = np.abs(np.einsum("nsi,ni->ns", equivalents, va)).max(axis=1)
    return np.rad2deg(np.arccos(np.clip(cosines, -1.0, 1.0)))


@dataclass(frozen=True)
class AccuracySummary:
    """Accuracy figures of an orientation map against the truth.

    Attributes
    ----------
    n_pixels
        Number of pixels compared.
    median_misorientation
        Median misorientation in degrees over all pixels, wrong-phase
        pixels ranked as infinitely wrong (``inf`` if more than half are).
    fraction_under_2, fraction_under_5
        Fraction of all pixels with the right phase and a misorientation
        under 2 and 5 degrees.
    phase_accuracy
        Fraction of pixels with the right phase.
    median_zone_axis_error
        Median zone-axis error in degrees, ranked like the misorientation.
    friedel
        Whether the 180° about-the-beam twin counted as correct.
    """

    n_pixels: int
    median_misorientation: float
    fraction_under_2: float
    fraction_under_5: float
    phase_accuracy: float
    median_zone_axis_error: float
    friedel: bool

    def as_dict(self) -> dict:
        """Return the summary as a plain dictionary (JSON-ready).

        Returns
        -------
        summary
            Field names and values.
        """
        return asdict(self)


def summarize(
    misorientation: np.ndarray,
    zone_axis_error: np.ndarray | None = None,
    friedel: bool = True,
) -> AccuracySummary:
    """Summarise per-pixel errors in degrees; ``NaN`` marks a wrong phase.

    Parameters
    ----------
    misorientation
        Per-pixel misorientation in degrees, ``NaN`` where the phase is wrong.
    zone_axis_error
        Per-pixel zone-axis error in degrees (same ``NaN`` rule), optional.
    friedel
        The rule used to compute ``misorientation``, recorded in the result.

    Returns
    -------
    summary
        An :class:`AccuracySummary`.
    """
    mis = np.asarray(misorientation, dtype=float).reshape(-1)
    if mis.size == 0:
        raise ValueError("Cannot summarise an empty set of pixels.")
    right_phase = ~np.isnan(mis)
    ranked = np.where(right_phase, mis, np.inf)
    if zone_axis_error is None:
        zone_median = float("nan")
    else:
        zone = np.asarray(zone_axis_error, dtype=float).reshape(-1)
        zone_median = float(np.median(np.where(np.isnan(zone), np.inf, zone)))
    return AccuracySummary(
        n_pixels=int(mis.size),
        median_misorientation=float(np.median(ranked)),
        fraction_under_2=float(np.mean(ranked < 2)),
        fraction_under_5=float(np.mean(ranked < 5)),
        phase_accuracy=float(np.mean(right_phase)),
        median_zone_axis_error=zone_median,
        friedel=friedel,
    )


@dataclass(frozen=True)
class CrystalMapComparison:
    """Per-pixel comparison of a predicted crystal map with the truth.

    Attributes
    ----------
    misorientation
        Misorientation in degrees, in the map's shape; ``NaN`` where the
        predicted phase is wrong.
    zone_axis_error
        Zone-axis error in degrees, same shape and ``NaN`` rule.
    phase_correct
        Boolean map, True where the predicted phase name equals the truth.
    friedel
        Whether the 180° about-the-beam twin counted as correct.
    """

    misorientation: np.ndarray
    zone_axis_error: np.ndarray
    phase_correct: np.ndarray
    friedel: bool

    def summary(self) -> AccuracySummary:
        """Return the :class:`AccuracySummary` of this comparison.

        Returns
        -------
        summary
            Medians and fractions of this comparison.
        """
        return summarize(self.misorientation, self.zone_axis_error, self.friedel)


def _first_rotations(xmap: CrystalMap) -> Rotation:
    data = xmap.rotations.data
    if data.ndim == 3:  # several rotations per point: keep the best one
        data = data[:, 0]
    return Rotation(data.reshape(-1, 4))


def _phase_names(xmap: CrystalMap) -> np.ndarray:
    names = {i: p.name for i, p in xmap.phases}
    return np.array([names.get(i, "not_indexed") for i in xmap.phase_id])


def compare_crystal_maps(
    predicted: CrystalMap, truth: CrystalMap, friedel: bool = True
) -> CrystalMapComparison:
    """Compare two crystal maps of the same scan pixel by pixel.

    Phases are matched by name, so the two maps may number them differently.
    Each pixel is compared with the point group of its true phase.

    Parameters
    ----------
    predicted
        The map to score, e.g. ``om.to_crystal_map()``. Where it holds
        several rotations per point, the first (best) one is used.
    truth
        The ground truth, e.g. from
        :func:`pyxem_transformer.evaluation.data.simulated_grains`.
    friedel
        If True, the 180° about-the-beam twin counts as correct (module notes).

    Returns
    -------
    comparison
        A :class:`CrystalMapComparison`; call ``.summary()`` for the figures.

    Examples
    --------
    >>> from pyxem_transformer import data, metrics, phases
    >>> s, truth = data.simulated_grains(phases.cu(), scan_shape=(4, 4), n_grains=2)
    >>> metrics.compare_crystal_maps(truth, truth).summary().median_misorientation
    0.0
    """
    if predicted.size != truth.size or predicted.shape != truth.shape:
        raise ValueError(
            f"The maps cover different scans: {predicted.shape} ({predicted.size} "
            f"points) and {truth.shape} ({truth.size} points)."
        )
    pred_rot = _first_rotations(predicted)
    true_rot = _first_rotations(truth)
    pred_names = _phase_names(predicted)
    true_names = _phase_names(truth)
    phase_correct = pred_names == true_names
    mis = np.full(truth.size, np.nan)
    zone = np.full(truth.size, np.nan)
    for _, phase in truth.phases:
        here = phase_correct & (true_names == phase.name)
        if not here.any():
            continue
        pg = phase.point_group
        mis[here] = misorientation_angles(pred_rot[here], true_rot[here], pg, friedel)
        zone[here] = zone_axis_angles(pred_rot[here], true_rot[here], pg)
    shape = truth.shape
    return CrystalMapComparison(
        misorientation=mis.reshape(shape),
        zone_axis_error=zone.reshape(shape),
        phase_correct=phase_correct.reshape(shape),
        friedel=friedel,
    )
