"""Preprocessing of measured patterns before mapping, with pyxem's own tools.

Every step here is a pyxem method; :func:`preprocess` only chains them in
the order that suits peak finding and says when each one helps:

* **Direct-beam centring** (``center_direct_beam``, ``method="blur"``):
  always for scanned data with descan error. The model reads peak positions
  relative to the calibrated centre and tolerates about 0.01 1/Å (half a
  pixel at 0.02 1/Å per pixel) of offset; larger shifts bias the
  orientation. :func:`pyxem_transformer.check_calibration` reports what is
  left.
* **Background subtraction** (``subtract_diffraction_background``): for
  thick samples, amorphous support films or strong diffuse scattering,
  whose smooth background raises the noise estimate and hides weak spots.
  ``"difference of gaussians"`` suits disks of a few pixels.
* **Gamma** (``intensity ** gamma``, e.g. 0.5): for precession or
  dynamical data where a few reflections dominate. Tokens carry intensities
  relative to the strongest peak, and the model was trained with intensity
  augmentation, so gamma only matters for peak finding, where it lifts weak
  spots above the threshold.

The batched peak finder's threshold is relative to each pattern's own noise
(a robust estimate from its background), so counts (integers), ``uint16``
detector frames and normalised floats need no rescaling.
"""

import numpy as np

from pyxem_transformer._validation import check_diffraction_signal

__all__ = ["preprocess"]

_BACKGROUNDS = ("difference of gaussians", "median kernel", "radial median", "h-dome")


def preprocess(
    signal,
    *,
    center: bool = True,
    half_square_width: int | None = None,
    background: str | None = None,
    background_kwargs: dict | None = None,
    gamma: float | None = None,
):
    """Return a centred, background-subtracted and/or gamma-scaled copy.

    Parameters
    ----------
    signal
        A pyxem ``Diffraction2D`` (lazy or not) calibrated in 1/Å.
    center
        Centre the direct beam with pyxem's ``center_direct_beam(method=
        "blur")`` and reset the calibration centre to the pattern middle.
    half_square_width
        Half width in pixels of the central square searched for the direct
        beam; default a quarter of the pattern (keep it small enough to
        exclude strong Bragg disks).
    background
        One of pyxem's ``subtract_diffraction_background`` methods
        (``"difference of gaussians"``, ``"median kernel"``,
        ``"radial median"``, ``"h-dome"``), or None.
    background_kwargs
        Options of that method (e.g. ``{"min_sigma": 1, "max_sigma": 8}``).
    gamma
        Exponent applied to the (non-negative) intensities, or None.

    Returns
    -------
    signal
        A new signal; the input is left untouched.

    Raises
    ------
    ValueError
        If the signal is not a calibrated scan of 2-D patterns, the
        background method is unknown, or gamma is not positive.

    Examples
    --------
    >>> import pyxem_transformer as pxt
    >>> s, _ = pxt.data.simulated_grains(pxt.phases.cu(), scan_shape=(4, 4))
    >>> t = pxt.preprocess(s, gamma=0.5)
    >>> t.data.shape == s.data.shape
    True
    """
    check_diffraction_signal(signal)
    if background is not None and background not in _BACKGROUNDS:
        raise ValueError(
            f"Unknown background method {background!r}; use one of {_BACKGROUNDS} "
            "(pyxem's subtract_diffraction_background) or None."
        )
    if gamma is not None and not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"`gamma` must be a positive number, got {gamma!r}.")
    out = signal.deepcopy()  # cheap for lazy signals: the graph is copied
    if out.data.dtype.kind != "f":  # pyxem's filters and shifts need floats
        out.change_dtype("float32")
    if center:
        width = half_square_width or min(out.axes_manager.signal_shape) // 4
        out = out.center_direct_beam(
            method="blur", sigma=1, half_square_width=width, inplace=False
        )
        out.calibration.center = None
    if background is not None:
        out = out.subtract_diffraction_background(
            background, inplace=False, **(background_kwargs or {})
        )
    if gamma is not None:
        out = out.map(_gamma, gamma=gamma, inplace=False)
    return out


def _gamma(pattern: np.ndarray, gamma: float) -> np.ndarray:
    return np.clip(pattern, 0, None) ** gamma
