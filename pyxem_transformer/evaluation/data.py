"""Simulated 4D-STEM samples with a known orientation and phase per pixel.

Patterns are made from diffsims spot lists and carry the convention that
pyxem template matching uses (pinned by ``tests/test_convention.py``):
the image of a diffsims rotation ``R`` is
``np.fliplr(simulation.get_diffraction_pattern(...))``, and pyxem's
``get_orientation`` indexes it as ``R`` itself. pyxem's own
``pyxem.data.si_grains`` uses ``np.flipud``, which is the same image turned
by 180° in the detector plane: the zone axis agrees but the in-plane angle
is off by half a turn.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.crystal_map import CrystalMap, Phase, PhaseList
from orix.quaternion import Rotation
from pyxem.signals import Diffraction2D

from pyxem_transformer._validation import as_phase_list
from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.simulation.sampling import random_rotations

__all__ = ["SimulatedSample", "random_rotations", "simulated_grains"]

# Unit string pyxem writes for reciprocal Ångström axes.
INVERSE_ANGSTROM = r"$\AA^{-1}$"


class SimulatedSample(NamedTuple):
    """A simulated scan and its ground truth (unpacks as ``signal, truth``)."""

    signal: Diffraction2D
    truth: CrystalMap


def _render(
    simulation,
    detector_shape: tuple[int, int],
    calibration: float,
    disk_sigma: float,
) -> np.ndarray:
    pattern = simulation.get_diffraction_pattern(
        shape=detector_shape,
        sigma=disk_sigma,
        calibration=calibration,
        fast=False,  # sub-pixel spot positions
        normalize=False,
        # diffsims skips pixels below this absolute value; its default of 1
        # silently erases every spot weaker than about 2*pi*sigma**2.
        clip_threshold=1e-9,
    )
    return np.fliplr(pattern)


def _check_positive(name: str, value: float) -> None:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")


def simulated_grains(
    phases: Phase | Sequence[Phase],
    scan_shape: tuple[int, ...] = (32, 32),
    detector_shape: tuple[int, int] = (128, 128),
    calibration: float = 0.02,
    disk_sigma: float = 2.0,
    dose: float | None = None,
    max_excitation_error: float = 0.1,
    n_grains: int = 10,
    seed: int = 0,
    *,
    accelerating_voltage: float = 200.0,
    reciprocal_radius: float | None = None,
    lazy: bool = False,
) -> SimulatedSample:
    """Simulate a grain map of one or more phases with its ground truth.

    Grains are Voronoi cells around random seed points; each has a random
    phase (every phase appears when ``n_grains >= len(phases)``) and a
    rotation drawn uniformly from SO(3). The pattern of each grain is a
    diffsims kinematical spot list, direct beam included, drawn as Gaussian
    disks at sub-pixel positions in the pyxem template-matching convention
    (module notes).

    Parameters
    ----------
    phases
        One orix phase or several, each with a structure holding atoms.
    scan_shape
        Navigation shape ``(rows, columns)``, or ``(n,)`` for a line scan.
    detector_shape
        Pattern shape in pixels ``(rows, columns)``.
    calibration
        Reciprocal pixel size in 1/Å; the direct beam sits at the detector
        centre ``((columns - 1) / 2, (rows - 1) / 2)``.
    disk_sigma
        Standard deviation of each Gaussian disk in pixels.
    dose
        Electrons per pattern. If given, each pattern is scaled to this
        total and Poisson noise is drawn; if None, patterns are noise-free
        and scaled to a maximum of 1.
    max_excitation_error
        diffsims excitation-error cut-off in 1/Å (roughly 1/thickness).
    n_grains
        Number of grains.
    seed
        Seed of every random choice (grains, phases, rotations, noise).
    accelerating_voltage
        Beam energy in kV, also stored in the signal's metadata.
    reciprocal_radius
        Largest ``|g|`` simulated in 1/Å; default reaches the detector corners.
    lazy
        Return a lazy signal (dask) instead of an in-memory one.

    Returns
    -------
    sample
        ``(signal, truth)``: a pyxem ``Diffraction2D`` with signal axes
        ``kx``, ``ky`` in 1/Å centred on the direct beam, and an orix
        ``CrystalMap`` with the true rotation and phase of every pixel (and
        the property ``grain_id``).

    Examples
    --------
    >>> from pyxem_transformer import data, phases
    >>> s, truth = data.simulated_grains(phases.cu(), scan_shape=(4, 5), n_grains=3)
    >>> s.data.shape, truth.shape
    ((4, 5, 128, 128), (4, 5))
    """
    phase_list = as_phase_list(phases)
    phase_objs = [phase_list[i] for i in phase_list.ids]
    scan_shape, detector_shape = _checked_shapes(scan_shape, detector_shape)
    for name, value in [
        ("calibration", calibration),
        ("disk_sigma", disk_sigma),
        ("max_excitation_error", max_excitation_error),
        ("accelerating_voltage", accelerating_voltage),
    ]:
        _check_positive(name, value)
    if dose is not None:
        _check_positive("dose", dose)
    if int(n_grains) < 1:
        raise ValueError(f"`n_grains` must be at least 1, got {n_grains}.")
    if reciprocal_radius is None:
        reciprocal_radius = 0.5 * calibration * float(np.hypot(*detector_shape))
    _check_positive("reciprocal_radius", reciprocal_radius)

    rng = np.random.default_rng(seed)
    grain_id, grain_phase, grain_rotation = _grain_layout(
        rng, scan_shape, int(n_grains), len(phase_objs)
    )
    grain_patterns = np.zeros((int(n_grains), *detector_shape), dtype=np.float64)
    for grain, simulation in _grain_simulations(
        phase_objs,
        grain_phase,
        grain_rotation,
        reciprocal_radius,
        max_excitation_error,
        accelerating_voltage,
        with_direct_beam=True,
    ):
        grain_patterns[grain] = _render(
            simulation, detector_shape, calibration, disk_sigma
        )
    patterns = _exposed(grain_patterns[grain_id], dose, rng)
    signal, truth = _sample(
        patterns,
        scan_shape,
        calibration,
        accelerating_voltage,
        (grain_id, grain_phase, grain_rotation),
        phase_list,
    )
    return SimulatedSample(signal.as_lazy() if lazy else signal, truth)


def _sample(patterns, scan_shape, calibration, voltage, layout, phase_list):
    """The calibrated signal of ``patterns`` and the truth of the grain
    ``layout`` (``grain_id, grain_phase, grain_rotation``)."""
    grain_id, grain_phase, grain_rotation = layout
    signal = Diffraction2D(patterns.reshape(*scan_shape, *patterns.shape[-2:]))
    _calibrate(signal, scan_shape, calibration, voltage)
    truth = _truth_map(
        grain_rotation[grain_id],
        grain_phase[grain_id],
        grain_id,
        scan_shape,
        phase_list,
    )
    return SimulatedSample(signal, truth)


def _grain_simulations(
    phases,
    grain_phase,
    rotations,
    reciprocal_radius,
    max_excitation_error,
    accelerating_voltage,
    with_direct_beam,
):
    """Yield ``(grain, simulation)``: each grain's diffsims simulation, one
    ``calculate_diffraction2d`` call per phase."""
    generator = SimulationGenerator(accelerating_voltage=accelerating_voltage)
    for index, phase in enumerate(phases):
        grains = np.flatnonzero(grain_phase == index)
        if grains.size == 0:
            continue
        simulation = generator.calculate_diffraction2d(
            diffsims_phase(phase),
            rotation=rotations[grains],
            reciprocal_radius=reciprocal_radius,
            max_excitation_error=max_excitation_error,
            with_direct_beam=with_direct_beam,
        )
        for k, grain in enumerate(grains):
            yield grain, simulation.irot[k] if grains.size > 1 else simulation


def _checked_shapes(scan_shape, detector_shape) -> tuple[tuple, tuple]:
    """Scan and detector shapes as int tuples, refused where impossible."""
    scan_shape = tuple(int(n) for n in np.atleast_1d(scan_shape))
    if len(scan_shape) not in (1, 2) or min(scan_shape) < 1:
        raise ValueError(
            f"`scan_shape` must be (rows, columns) or (n,) with positive sizes, "
            f"got {scan_shape}."
        )
    detector_shape = tuple(int(n) for n in detector_shape)
    if len(detector_shape) != 2 or min(detector_shape) < 3:
        raise ValueError(
            f"`detector_shape` must be (rows, columns) of at least 3 pixels each, "
            f"got {detector_shape}."
        )
    return scan_shape, detector_shape


def _grain_layout(rng, scan_shape, n_grains: int, n_phases: int):
    """Voronoi grains: each pixel's grain, each grain's phase and rotation.

    Every phase appears when ``n_grains >= n_phases``.
    """
    n_pixels = int(np.prod(scan_shape))
    grid = np.stack(
        np.meshgrid(*[np.arange(n) for n in scan_shape], indexing="ij"), axis=-1
    ).reshape(n_pixels, len(scan_shape))
    centres = rng.uniform(0, 1, size=(n_grains, len(scan_shape))) * scan_shape
    grain_id = np.argmin(
        ((grid[:, None, :] - centres[None, :, :]) ** 2).sum(-1), axis=1
    )
    grain_phase = rng.integers(n_phases, size=n_grains)
    first = min(n_grains, n_phases)
    grain_phase[:first] = rng.permutation(n_phases)[:first]
    return grain_id, grain_phase, random_rotations(n_grains, rng)


def _exposed(patterns: np.ndarray, dose: float | None, rng) -> np.ndarray:
    """Noise-free patterns scaled to a maximum of 1, or Poisson counts of
    ``dose`` electrons per pattern; float32."""
    if dose is None:
        peak = patterns.max(axis=(1, 2), keepdims=True)
        patterns = patterns / np.where(peak > 0, peak, 1)
    else:
        totals = patterns.sum(axis=(1, 2), keepdims=True)
        expected = patterns * (dose / np.where(totals > 0, totals, 1))
        patterns = rng.poisson(expected)
    return patterns.astype(np.float32)


def _calibrate(
    signal: Diffraction2D,
    scan_shape: tuple[int, ...],
    calibration: float,
    accelerating_voltage: float,
) -> None:
    names = ["x", "y"][: len(scan_shape)]
    for axis, name in zip(signal.axes_manager.navigation_axes, names, strict=True):
        axis.name, axis.units, axis.scale, axis.offset = name, "px", 1.0, 0.0
    for axis, name in zip(signal.axes_manager.signal_axes, ["kx", "ky"], strict=True):
        axis.name = name
        axis.units = INVERSE_ANGSTROM
        axis.scale = calibration
        axis.offset = -0.5 * (axis.size - 1) * calibration
    signal.metadata.set_item(
        "Acquisition_instrument.TEM.beam_energy", accelerating_voltage
    )
    signal.metadata.General.title = "Simulated grains"


def _truth_map(
    rotations: Rotation,
    phase_id: np.ndarray,
    grain_id: np.ndarray,
    scan_shape: tuple[int, ...],
    phase_list: PhaseList,
) -> CrystalMap:
    if len(scan_shape) == 2:
        rows, cols = np.indices(scan_shape)
        x, y = cols.ravel().astype(float), rows.ravel().astype(float)
    else:
        x, y = np.arange(scan_shape[0], dtype=float), None
    return CrystalMap(
        rotations=rotations,
        phase_id=phase_id,
        x=x,
        y=y,
        phase_list=phase_list,
        prop={"grain_id": grain_id},
        scan_unit="px",
    )
