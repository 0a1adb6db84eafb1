"""diffsims' spot coordinates in a pyxem signal's detector frame."""

import numpy as np

__all__ = ["detector_frame", "simulated_spot_lists", "spot_lists"]


def detector_frame(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map diffsims spot coordinates to a pyxem signal's ``(kx, ky)``.

    Patterns follow the convention pinned in ``tests/test_convention.py``:
    the image of rotation ``R`` is the left-right flip of diffsims' drawing,
    so ``kx = -x`` and ``ky = y``.

    Parameters
    ----------
    x, y
        diffsims spot coordinates in 1/Å.

    Returns
    -------
    kx, ky
        Positions in the signal's calibrated frame.
    """
    return -np.asarray(x), np.asarray(y)


def spot_lists(
    simulation, n: int, minimum_intensity: float | None = None
) -> list[np.ndarray]:
    """The spots of a diffsims simulation of ``n`` rotations, detector frame.

    Parameters
    ----------
    simulation
        A diffsims ``Simulation2D`` of one phase at ``n`` rotations.
    n
        Number of rotations it holds.
    minimum_intensity
        Leave out spots weaker than this fraction of the pattern's
        strongest; None keeps every spot.

    Returns
    -------
    spots
        Per rotation, an ``(m, 3)`` array ``(kx, ky, intensity)`` in 1/Å.
    """
    coordinates = simulation.coordinates
    if n == 1:
        coordinates = [coordinates]
    spots = []
    for c in coordinates:
        xy = np.asarray(c.data)[:, :2]
        intensity = np.asarray(c.intensity, dtype=np.float64)
        if minimum_intensity is not None and intensity.size:
            keep = intensity > minimum_intensity * intensity.max()
            xy, intensity = xy[keep], intensity[keep]
        kx, ky = detector_frame(xy[:, 0], xy[:, 1])
        spots.append(np.stack([kx, ky, intensity], axis=1).reshape(-1, 3))
    return spots


def simulated_spot_lists(
    generator,
    phase,
    rotations,
    reciprocal_radius: float,
    max_excitation_error: float,
    minimum_intensity: float | None = None,
) -> list[np.ndarray]:
    """Simulate one phase at ``rotations`` with diffsims and return the
    :func:`spot_lists` (no direct beam).

    Parameters
    ----------
    generator
        A diffsims ``SimulationGenerator`` (kinematic, or with precession).
    phase
        The phase as diffsims takes it
        (:func:`pyxem_transformer.crystal.phase_io.diffsims_phase`).
    rotations
        orix rotations.
    reciprocal_radius, max_excitation_error
        diffsims' cut-offs in 1/Å.
    minimum_intensity
        As for :func:`spot_lists`.

    Returns
    -------
    spots
        Per rotation, an ``(m, 3)`` array ``(kx, ky, intensity)`` in 1/Å.
    """
    simulation = generator.calculate_diffraction2d(
        phase,
        rotation=rotations,
        reciprocal_radius=reciprocal_radius,
        max_excitation_error=max_excitation_error,
        with_direct_beam=False,
    )
    return spot_lists(simulation, rotations.size, minimum_intensity)
