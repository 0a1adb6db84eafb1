"""diffsims' spot coordinates in a pyxem signal's detector frame."""

import numpy as np

__all__ = ["detector_frame"]


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
