"""Methods that ``import pyxem_transformer`` adds to pyxem's signal classes.

Following kikuchipy, each method only parses and validates its arguments and
then calls a plain function that works on arrays.
"""

from typing import Any

import numpy as np
import pyxem.signals

from pyxem_transformer._validation import (
    check_diffraction_signal,
    reciprocal_calibration,
)

__all__ = [
    "attach_signal_methods",
    "get_orientation_map_transformer",
    "vectors_get_orientation_map_transformer",
]

_DEVICES = ("auto", "cpu", "cuda")


def get_orientation_map_transformer(
    self,
    model: Any,
    *,
    peak_kwargs: dict | None = None,
    vectors: Any = None,
    batch_size: int = 1024,
    device: str = "auto",
    n_best: int = 1,
    lazy_output: bool | None = None,
    show_progressbar: bool | None = None,
    calibration_check: bool | str = True,
    refine: bool | str = True,
    find_beam: bool = True,
    undistort: bool = False,
):
    """Map crystal orientation and phase with a transformer model.

    Bragg disks are found in every pattern, turned into tokens (position in
    1/Å relative to the direct beam and intensity) with the model's stored
    token settings, and read by the model in batches. Added to pyxem's
    ``Diffraction2D`` (and so its lazy and electron-diffraction subclasses)
    by ``import pyxem_transformer``.

    Parameters
    ----------
    model
        A trained model from ``pyxem_transformer.train_model``,
        ``pyxem_transformer.load_model`` or ``pyxem_transformer.pretrained``.
    peak_kwargs
        Keyword arguments of the peak finder (e.g. ``threshold``,
        ``min_distance``); None uses the defaults stored with the model.
    vectors
        Precomputed pyxem ``DiffractionVectors`` to use instead of finding
        peaks.
    batch_size
        Patterns per inference batch (at most; a lazy signal's chunks also
        bound it). 1024 keeps a CPU's caches warm (on this project's 2-core
        machine the network is faster than in batches of 4096); on a GPU,
        larger batches pay.
    device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
    n_best
        Number of candidate orientations kept per pattern, best first, as in
        pyxem's ``get_orientation``.
    lazy_output
        Return a lazy result; None follows the laziness of the signal.
    show_progressbar
        Show a progress bar; None follows hyperspy's preference.
    calibration_check
        First check the reciprocal calibration and centre on a central block
        of up to 256 patterns (:func:`pyxem_transformer.check_calibration`)
        and warn (:class:`~pyxem_transformer.tokens.calibration.CalibrationWarning`)
        when they are further off than the model was trained to tolerate.
        ``True`` (default): then map with the estimated calibration where the
        estimate is precise (the signal itself is unchanged; the calibration
        used is stored in the result's ``metadata.Transformer.calibration``,
        unless ``vectors`` were given: they carry their own calibration).
        The check also measures elliptical lens distortion; the estimate is
        stored beside the calibration (see ``undistort``).
        ``"warn"``: warn only and map with the stored calibration.
        ``False``: no check.
    refine
        Fit each orientation to the found peaks (the default): exact on
        precise peaks, and it picks between a rotation and its 180° turn about
        the beam (the Friedel twin), which the network alone cannot tell
        apart. ``False`` keeps the network's answer: several times faster,
        about a degree off, and the twin left unresolved (see the benchmark
        page of the docs). ``"dynamical"``: for nanobeam patterns of thick
        samples (100-1,000 Å; not precession, not thin films), the fit and
        then a search of the tilt that best explains which reflections are
        bright, with restarts from tilted starts
        (:mod:`pyxem_transformer.mapping.tilt`): on the benchmark's
        dynamical Cu it adds 13-18 points under 2° and 1-4 under 5° (docs,
        benchmark page).
    find_beam
        Measure each pattern's peaks from its own direct beam, found among
        its peaks (the default): descan moves the beam by pixels across a
        scan, and a stored centre is right for one corner at best. Where a
        beam is blocked or faint, the centre of its Friedel pairs or a plane
        through the other beams stands in
        (:mod:`pyxem_transformer.tokens.origin`). The beams used are the
        result's ``beam_kx``, ``beam_ky`` columns. ``False`` measures from
        the stored centre.
    undistort
        Undo the elliptical lens distortion the calibration check measures
        firmly (radii at least 1% long and short, six standard errors) on
        every pattern's peaks before mapping. Off by default: on a scan of
        few grains, tilted grains mimic an ellipse (simulated Cu + Cu2O at
        300 e/pattern: 1.1% measured where there is none), and the fit's own
        per-pattern distortion term absorbs a few percent anyway.

    Returns
    -------
    result
        A :class:`~pyxem_transformer.signals.TransformerOrientationMap` with
        ``to_crystal_map()`` and the rest of pyxem's ``OrientationMap`` API.

    Raises
    ------
    ValueError
        If the signal is not a 1-D or 2-D scan of 2-D patterns calibrated in
        1/Å, no reflection of the model's phases fits on the detector, or an
        argument is out of range.
    TypeError
        If ``model`` is not a pyxem-transformer model.

    Warns
    -----
    CalibrationWarning
        If the calibration or centre looks further off than the model
        tolerates (``calibration_check``).
    DataWarning
        If a sample of the data holds NaN, infinite or negative pixels or
        blank patterns.

    Notes
    -----
    ``peak_kwargs`` takes the batched finder's options (``min_distance``,
    ``threshold_sigma``, ``threshold_rel``, ``smooth_sigma``, ``max_peaks``;
    see :func:`pyxem_transformer.tokens.peaks.find_peaks_batched`), or
    ``{"finder": "pyxem", ...}`` to use pyxem's ``get_diffraction_vectors``
    with your own pyxem options (e.g. ``method="local_max"``,
    ``threshold_abs``, ``min_distance``).
    """
    _check_mapping_arguments(
        self, n_best, batch_size, calibration_check, device, peak_kwargs
    )
    _check_refine_flag(refine)
    _check_flags(find_beam=find_beam, undistort=undistort)
    from pyxem_transformer.mapping.inference import (
        _check_model,
        _split_peak_kwargs,
        map_orientations,
    )

    _check_model(model)
    finder, options = _split_peak_kwargs(peak_kwargs)
    from pyxem_transformer.tokens.checks import (
        calibration_for_mapping,
        check_reciprocal_range,
    )

    check_reciprocal_range(self, model)
    scale, offset = (tuple(float(v) for v in a) for a in reciprocal_calibration(self))
    check, use_estimate = None, False
    if calibration_check is not False and vectors is None:
        check, use_estimate = calibration_for_mapping(
            self,
            model,
            options if finder == "batched" else {},
            correct=calibration_check is True,
            centre=not find_beam,
        )
    if use_estimate:
        scale, offset = check.corrected(scale, offset)
    undistortion = _undistortion(check, calibration_check) if undistort else None
    result = map_orientations(
        self,
        model,
        peak_kwargs=peak_kwargs,
        vectors=vectors,
        batch_size=batch_size,
        device=device,
        n_best=n_best,
        lazy_output=lazy_output,
        show_progressbar=show_progressbar,
        refine=refine,
        calibration=(scale, offset) if use_estimate else None,
        find_beam=find_beam,
        undistortion=undistortion,
    )
    if vectors is None:  # given vectors carry their own calibration
        _record_calibration(result, scale, offset, use_estimate, check, undistortion)
    return result


def _undistortion(check, calibration_check) -> np.ndarray | None:
    """The lens-distortion correction to map with, if any."""
    if check is None or calibration_check is not True:
        return None
    return check.undistortion() if check.significant_ellipticity else None


def _record_calibration(result, scale, offset, estimated, check, undistortion):
    """Store the calibration a map was made with in its metadata."""
    result.metadata.set_item(
        "Transformer.calibration",
        {
            "scale": list(scale),
            "offset": list(offset),
            "estimated": estimated,
            "check": "" if check is None else str(check),
            "ellipticity": 0.0 if check is None else check.ellipticity,
            "ellipticity_axis": 0.0 if check is None else check.ellipticity_axis,
            "undistortion": None if undistortion is None else undistortion.tolist(),
        },
    )


def _check_mapping_arguments(
    signal, n_best, batch_size, calibration_check, device, peak_kwargs
) -> None:
    """Refuse arguments of the signal method that cannot work, naming them."""
    check_diffraction_signal(signal)
    _check_counts(n_best=n_best, batch_size=batch_size)
    if not (isinstance(calibration_check, bool) or calibration_check == "warn"):
        raise ValueError(
            "`calibration_check` must be True, 'warn' or False, got "
            f"{calibration_check!r}."
        )
    if str(device).split(":")[0] not in _DEVICES:
        raise ValueError(f"`device` must be one of {_DEVICES}, got {device!r}.")
    if peak_kwargs is not None and not isinstance(peak_kwargs, dict):
        raise TypeError(
            f"`peak_kwargs` must be a dict of peak-finder options, got "
            f"{type(peak_kwargs).__name__}."
        )


def vectors_get_orientation_map_transformer(
    self,
    model: Any,
    *,
    batch_size: int = 1024,
    device: str = "auto",
    n_best: int = 1,
    lazy_output: bool | None = None,
    refine: bool | str = True,
    find_beam: bool = True,
):
    """Map crystal orientation and phase from already found diffraction vectors.

    For pyxem workflows that found peaks already (e.g.
    ``s.get_diffraction_vectors(...)``). Added to pyxem's
    ``DiffractionVectors`` by ``import pyxem_transformer``.

    Parameters
    ----------
    model
        A trained pyxem-transformer model.
    batch_size, device, n_best, refine, find_beam
        As for ``Diffraction2D.get_orientation_map_transformer``.
    lazy_output
        Return a lazy result (default: not lazy).

    Returns
    -------
    result
        A :class:`~pyxem_transformer.signals.TransformerOrientationMap`.
    """
    from pyxem_transformer.mapping.inference import map_vectors

    _check_counts(n_best=n_best, batch_size=batch_size)
    _check_refine_flag(refine)
    _check_flags(find_beam=find_beam)
    return map_vectors(
        self,
        model,
        n_best=n_best,
        batch_size=batch_size,
        device=device,
        lazy_output=bool(lazy_output),
        refine=refine,
        find_beam=find_beam,
    )


def _check_counts(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")


def _check_refine_flag(refine) -> None:
    if not (isinstance(refine, bool) or refine == "dynamical"):
        raise TypeError(
            f"`refine` must be True, False or 'dynamical' (nanobeam patterns "
            f"of thick samples), got {refine!r}."
        )


def _check_flags(**values: bool) -> None:
    # A string such as "False" is truthy: refuse it rather than act on it.
    for name, value in values.items():
        if not isinstance(value, bool):
            raise TypeError(f"`{name}` must be True or False, got {value!r}.")


def attach_signal_methods() -> None:
    """Add this package's methods to pyxem's ``Diffraction2D``.

    Subclasses (``LazyDiffraction2D``, ``ElectronDiffraction2D`` and their
    lazy twins) inherit them; ``DiffractionVectors`` gets its own version.
    Calling this twice is harmless, and an existing attribute of the same
    name that pyxem itself defines is never replaced.
    """
    for cls, method in [
        (pyxem.signals.Diffraction2D, get_orientation_map_transformer),
        (pyxem.signals.DiffractionVectors, vectors_get_orientation_map_transformer),
    ]:
        existing = cls.__dict__.get("get_orientation_map_transformer")
        if existing is not None and existing is not method:
            raise RuntimeError(
                f"pyxem's {cls.__name__} already has a different "
                "`get_orientation_map_transformer`; refusing to replace it."
            )
        cls.get_orientation_map_transformer = method
