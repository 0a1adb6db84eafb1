"""diffsims' spot coordinates in a pyxem signal's detector frame."""

import numpy as np

__all__ = ["detector_frame", "spot_lists"]


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
