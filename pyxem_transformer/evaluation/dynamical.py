"""Simulated scans with dynamical or precession intensities, and their truth.

:func:`dynamical_grains` draws the same kind of grain map as
:func:`~pyxem_transformer.evaluation.data.simulated_grains` and gives each
grain either

* Bloch-wave intensities at one thickness (abTEM, through
  :func:`~pyxem_transformer.simulation.dynamical.bloch_spots`), the direct
  beam with the intensity the calculation leaves in it; or
* kinematic precession intensities from diffsims at one precession angle,
  integrated exactly (``approximate_precession=False``), with a direct beam
  holding ``ped_beam_fraction`` of the pattern.

The patterns are drawn as Gaussian disks and exposed to Poisson noise. What
differs from the training sets (which are token lists, never images):

* the renderer and the noise (training perturbs token lists);
* the Bloch-wave beams: out to 1 1/Å beyond the detector and 0.15 1/Å from
  the Ewald sphere (training: 0.5 and 0.1);
* the Debye-Waller displacement: 0.11 Å, outside the training range
  (0.05-0.10 Å);
* precession integrated exactly (training: diffsims' approximation);
* the seeds. Thicknesses and angles lie inside the training ranges, as
  they must. abTEM's Bloch waves have no absorption, so neither set has it.
"""

from collections.abc import Sequence

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.crystal_map import Phase

from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.evaluation.data import (
    SimulatedSample,
    _exposed,
    _sample,
)
from pyxem_transformer.evaluation.measured import gaussian_disks, grain_setup
from pyxem_transformer.simulation.dynamical import bloch_spots
from pyxem_transformer.simulation.frame import simulated_spot_lists

__all__ = ["dynamical_grains"]

#: Debye-Waller displacement (Å) of the test scans: outside the training range.
TEST_THERMAL_SIGMA = 0.11


def dynamical_grains(
    phases: Phase | Sequence[Phase],
    scan_shape: tuple[int, int] = (32, 32),
    thickness: float = 300.0,
    dose: float | None = 3000.0,
    *,
    precession_angle: float | None = None,
    thermal_sigma: float = TEST_THERMAL_SIGMA,
    ped_beam_fraction: float = 0.5,
    max_excitation_error: float = 0.1,
    detector_shape: tuple[int, int] = (128, 128),
    calibration: float = 0.02,
    disk_sigma: float = 2.0,
    n_grains: int = 10,
    seed: int = 0,
) -> SimulatedSample:
    """Simulate a grain map with dynamical (or precession) intensities.

    Parameters
    ----------
    phases
        One orix phase or several, each with atoms.
    scan_shape
        Navigation shape ``(rows, columns)``.
    thickness
        Sample thickness in Å (Bloch waves; ignored with precession).
    dose
        Electrons per pattern; None for noise-free patterns.
    precession_angle
        Degrees: simulate kinematic precession instead of Bloch waves.
    thermal_sigma
        RMS thermal displacement of the atoms (Å) for Bloch waves.
    ped_beam_fraction
        Share of a precession pattern's intensity in its direct beam.
    max_excitation_error
        diffsims excitation-error cut-off (1/Å) for precession.
    detector_shape, calibration, disk_sigma
        Pattern size (pixels), reciprocal pixel size (1/Å) and disk width
        (pixels); the direct beam is at the detector centre.
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
    grains = np.zeros((int(n_grains), *detector_shape))
    for index, phase in enumerate(phase_objs):
        rows = np.flatnonzero(grain_phase == index)
        if rows.size == 0:
            continue
        if precession_angle is None:
            result = bloch_spots(
                phase,
                grain_rotation[rows],
                thickness,
                thermal_sigma=thermal_sigma,
                reciprocal_radius=radius,
                minimum_intensity=1e-6,
                beam_excitation_error=0.15,
                beam_margin=1.0,
            )
            spots, direct = result.spots, result.direct
        else:
            spots = _precession_spots(
                phase,
                grain_rotation[rows],
                precession_angle,
                radius,
                max_excitation_error,
            )
            totals = np.array([s[:, 2].sum() for s in spots])
            direct = totals * ped_beam_fraction / (1 - ped_beam_fraction)
        for k, grain in enumerate(rows):
            xy = spots[k][:, :2] / calibration
            grains[grain] = gaussian_disks(
                np.vstack([xy, [0.0, 0.0]]),
                np.append(spots[k][:, 2], direct[k]),
                detector_shape,
                disk_sigma,
            )
    patterns = _exposed(grains[grain_id], dose, rng)
    signal, truth = _sample(
        patterns,
        scan_shape,
        calibration,
        200.0,
        (grain_id, grain_phase, grain_rotation),
        phase_list,
    )
    kind = "precession" if precession_angle is not None else "dynamical"
    signal.metadata.General.title = f"Simulated grains, {kind} intensities"
    return SimulatedSample(signal, truth)


def _precession_spots(phase, rotations, angle, radius, excitation) -> list:
    """Kinematic precession spots ``(kx, ky, intensity)`` of each rotation."""
    generator = SimulationGenerator(
        200.0, precession_angle=float(angle), approximate_precession=False
    )
    return simulated_spot_lists(
        generator, diffsims_phase(phase), rotations, radius, excitation
    )
