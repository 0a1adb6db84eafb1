"""Simulated scans with the artefacts of measured data, and their truth.

:func:`realistic_grains` draws the same kind of grain map as
:func:`~pyxem_transformer.evaluation.data.simulated_grains`, then gives each
pattern what a microscope adds:

* descan: the direct beam ramps across the scan to ``descan_px`` off the
  stored centre (which is where the beam was at the first pattern), plus
  ``descan_jitter_px`` of random jitter per pattern;
* projector-lens distortion: ``ellipticity`` (0.03: 3%) of elliptical
  stretch about the beam, along one axis for the whole scan;
* imprecise spots: ``position_error_px`` of Gaussian error per spot and axis;
* a direct beam several times the strongest reflection;
* a diffuse background decaying from the beam, holding ``background`` of the
  pattern's intensity, and a faint amorphous ring;
* Poisson noise at ``dose`` electrons per pattern.

The patterns are drawn by this module's own Gaussian-disk renderer from
diffsims spot lists, not by diffsims' renderer and not by the training
augmentation (which perturbs token lists): the artefacts reach the mapping
through a code path that training never sees. The ground truth is the grain
map's, unchanged by the artefacts.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from orix.crystal_map import Phase, PhaseList

from pyxem_transformer._validation import as_phase_list
from pyxem_transformer.evaluation.data import (
    SimulatedSample,
    _exposed,
    _grain_layout,
    _grain_simulations,
    _sample,
)
from pyxem_transformer.simulation.frame import spot_lists

__all__ = ["Artefacts", "realistic_grains"]


@dataclass(frozen=True)
class Artefacts:
    """What a measured scan adds to clean patterns.

    Attributes
    ----------
    descan_px
        Largest direct-beam shift from the stored centre (pixels), reached at
        the last pattern of the scan.
    descan_jitter_px
        Random beam jitter per pattern (pixels, standard deviation per axis).
    ellipticity
        Elliptical stretch of the projection (0.03: 3% longer along one axis).
    position_error_px
        Random error of each spot's position (pixels, per axis).
    beam_ratio
        Direct beam over the strongest reflection.
    background
        Fraction of the pattern's intensity in a diffuse background that
        decays from the beam.
    background_decay
        Decay length of that background (1/Å).
    ring
        Fraction of the pattern's intensity in an amorphous ring.
    ring_radius, ring_width
        The ring's radius and width (1/Å).
    """

    descan_px: float = 4.0
    descan_jitter_px: float = 0.3
    ellipticity: float = 0.03
    position_error_px: float = 0.3
    beam_ratio: float = 4.0
    background: float = 0.3
    background_decay: float = 0.25
    ring: float = 0.05
    ring_radius: float = 0.36
    ring_width: float = 0.04


def realistic_grains(
    phases: Phase | Sequence[Phase],
    scan_shape: tuple[int, int] = (32, 32),
    artefacts: Artefacts = Artefacts(),
    dose: float | None = 3000.0,
    *,
    detector_shape: tuple[int, int] = (128, 128),
    calibration: float = 0.02,
    disk_sigma: float = 2.0,
    max_excitation_error: float = 0.1,
    n_grains: int = 10,
    seed: int = 0,
) -> SimulatedSample:
    """Simulate a grain map with the artefacts of measured data.

    Parameters
    ----------
    phases
        One orix phase or several, each with atoms.
    scan_shape
        Navigation shape ``(rows, columns)``.
    artefacts
        What the microscope adds (module notes).
    dose
        Electrons per pattern; None for noise-free patterns.
    detector_shape
        Pattern shape in pixels ``(rows, columns)``.
    calibration
        Reciprocal pixel size in 1/Å. The stored centre is the detector
        centre, where the beam is at the first pattern.
    disk_sigma
        Standard deviation of each Gaussian disk in pixels.
    max_excitation_error
        diffsims excitation-error cut-off in 1/Å.
    n_grains
        Number of grains.
    seed
        Seed of every random choice.

    Returns
    -------
    sample
        The signal (calibrated, float32) and the ground-truth ``CrystalMap``.
    """
    setup = grain_setup(phases, scan_shape, n_grains, seed, detector_shape, calibration)
    phase_list, phase_objs, scan_shape, rng, radius = setup[:5]
    grain_id, grain_phase, grain_rotation = setup.layout
    spots = _grain_spots(
        phase_objs, grain_phase, grain_rotation, radius, max_excitation_error
    )
    beams = _beam_positions(scan_shape, artefacts, rng)
    stretch = _ellipse(artefacts.ellipticity, rng.uniform(0, np.pi))
    patterns = np.empty((len(grain_id), *detector_shape), np.float32)
    for i, grain in enumerate(grain_id):
        xy = spots[grain][:, :2] / calibration @ stretch.T
        xy += rng.normal(0, artefacts.position_error_px, xy.shape)
        pattern = _render(
            xy + beams[i],
            spots[grain][:, 2],
            beams[i],
            detector_shape,
            disk_sigma,
            calibration,
            artefacts,
        )
        patterns[i] = _exposed(pattern[None], dose, rng)[0]
    signal, truth = _sample(
        patterns,
        scan_shape,
        calibration,
        200.0,
        (grain_id, grain_phase, grain_rotation),
        phase_list,
    )
    signal.metadata.General.title = "Simulated grains with measured-data artefacts"
    # The truth of the beam positions (1/Å from the stored centre, (kx, ky)),
    # for checks of the beam finder.
    signal.metadata.set_item(
        "Simulation.beam_position", (beams * calibration).reshape(*scan_shape, 2)
    )
    return SimulatedSample(signal, truth)


class GrainSetup(NamedTuple):
    """What every simulated grain map starts from."""

    phase_list: PhaseList
    phase_objs: list
    scan_shape: tuple
    rng: np.random.Generator
    radius: float
    layout: tuple


def grain_setup(
    phases, scan_shape, n_grains, seed, detector_shape, calibration
) -> GrainSetup:
    """The phases, the random generator, the grain ``layout`` (``grain_id,
    grain_phase, grain_rotation``) and the radius (1/Å) the detector reaches."""
    phase_list = as_phase_list(phases)
    phase_objs = [phase_list[i] for i in phase_list.ids]
    scan_shape = tuple(int(n) for n in scan_shape)
    rng = np.random.default_rng(seed)
    layout = _grain_layout(rng, scan_shape, int(n_grains), len(phase_objs))
    radius = 0.5 * calibration * float(np.hypot(*detector_shape))
    return GrainSetup(phase_list, phase_objs, scan_shape, rng, radius, layout)


def _grain_spots(phases, grain_phase, rotations, radius, excitation) -> list:
    """Each grain's spots ``(kx, ky, intensity)`` in 1/Å, no direct beam."""
    spots: list = [None] * len(grain_phase)
    for grain, one in _grain_simulations(
        phases, grain_phase, rotations, radius, excitation, 200.0, False
    ):
        spots[grain] = spot_lists(one, 1)[0]
    return spots


def _beam_positions(scan_shape, artefacts: Artefacts, rng) -> np.ndarray:
    """Each pattern's beam shift (pixels, ``(x, y)``) from the stored centre:
    a ramp from zero at the first pattern to ``descan_px`` at the last, in a
    random direction, plus jitter."""
    rows, cols = np.indices(scan_shape)
    ramp = (rows / max(scan_shape[0] - 1, 1) + cols / max(scan_shape[1] - 1, 1)) / 2
    angle = rng.uniform(0, 2 * np.pi)
    shift = artefacts.descan_px * ramp.reshape(-1, 1) * [np.cos(angle), np.sin(angle)]
    return shift + rng.normal(0, artefacts.descan_jitter_px, shift.shape)


def _ellipse(ellipticity: float, axis: float) -> np.ndarray:
    """The 2x2 map that stretches by ``1 + ellipticity`` along ``axis``."""
    u = np.array([np.cos(axis), np.sin(axis)])
    return np.eye(2) + ellipticity * np.outer(u, u)


def _render(xy, intensity, beam, shape, sigma, calibration, artefacts) -> np.ndarray:
    """Gaussian disks at ``xy`` (pixels from the detector centre), the direct
    beam at ``beam``, a diffuse background and an amorphous ring."""
    rows, cols = shape
    y, x = np.indices(shape, dtype=np.float64)
    x -= (cols - 1) / 2
    y -= (rows - 1) / 2
    strongest = intensity.max() if intensity.size else 1.0
    image = gaussian_disks(
        np.vstack([xy, beam]),
        np.append(intensity, artefacts.beam_ratio * strongest),
        shape,
        sigma,
    )
    k = np.hypot(x - beam[0], y - beam[1]) * calibration
    total = image.sum()
    diffuse = np.exp(-k / artefacts.background_decay)
    ring = np.exp(-0.5 * ((k - artefacts.ring_radius) / artefacts.ring_width) ** 2)
    for fraction, shape_ in ((artefacts.background, diffuse), (artefacts.ring, ring)):
        if fraction > 0:
            image += shape_ * (
                fraction * total / max(1 - fraction, 1e-6) / shape_.sum()
            )
    return image


def gaussian_disks(points, weights, shape, sigma) -> np.ndarray:
    """Gaussian disks of standard deviation ``sigma`` (pixels) and total
    ``weights`` at ``points`` (pixels ``(x, y)`` from the detector centre)."""
    rows, cols = shape
    y, x = np.indices(shape, dtype=np.float64)
    x -= (cols - 1) / 2
    y -= (rows - 1) / 2
    image = np.zeros(shape)
    half = int(np.ceil(4 * sigma))
    for (px, py), w in zip(points, weights, strict=True):
        c, r = int(round(px + (cols - 1) / 2)), int(round(py + (rows - 1) / 2))
        if not (-half <= c < cols + half and -half <= r < rows + half):
            continue
        r0, r1 = max(r - half, 0), min(r + half + 1, rows)
        c0, c1 = max(c - half, 0), min(c + half + 1, cols)
        dx, dy = x[r0:r1, c0:c1] - px, y[r0:r1, c0:c1] - py
        image[r0:r1, c0:c1] += w * np.exp(-(dx**2 + dy**2) / (2 * sigma**2))
    return image
