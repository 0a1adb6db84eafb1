"""Orientation mapping of a whole scan: peaks, tokens, model, result signal.

:func:`map_orientations` is what ``Diffraction2D.get_orientation_map_transformer``
calls. A lazy signal is mapped block by block with ``dask.array.map_blocks``
over navigation chunks (each chunk is one batch: peak finding for the whole
chunk, then the model), with the model in the graph once, so memory stays
bounded by the chunk size and a distributed scheduler ships the weights to
each worker once.
"""

import functools

import dask
import dask.array as da
import numpy as np
from tqdm.auto import tqdm

from pyxem_transformer._validation import reciprocal_calibration
from pyxem_transformer.mapping.result import COLUMNS, result_signal
from pyxem_transformer.mapping.table import orientation_table
from pyxem_transformer.model.network import OrientationTransformer
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.tokens.peaks import (
    find_peaks_batched,
    peaks_from_diffraction_vectors,
)

__all__ = ["detector_field", "map_orientations", "map_vectors"]


_FINDER_OPTIONS = {
    "min_distance",
    "threshold_sigma",
    "threshold_rel",
    "smooth_sigma",
    "max_peaks",
    "background",
}


def _check_model(model) -> OrientationTransformer:
    if not isinstance(model, OrientationTransformer):
        raise TypeError(
            f"Expected a pyxem-transformer model (from pxt.train_model, "
            f"pxt.load_model or pxt.pretrained), got {type(model).__name__}."
        )
    return model


def _split_peak_kwargs(peak_kwargs: dict | None) -> tuple[str, dict]:
    kwargs = dict(peak_kwargs or {})
    method = kwargs.pop("finder", "batched")
    if method == "batched":
        unknown = set(kwargs) - _FINDER_OPTIONS
        if unknown:
            raise ValueError(
                f"Unknown option(s) {sorted(unknown)} for the batched peak finder; "
                f"it takes {sorted(_FINDER_OPTIONS)}, or pass "
                "peak_kwargs={'finder': 'pyxem', ...} for pyxem's finder."
            )
    elif method != "pyxem":
        raise ValueError(
            f"peak_kwargs['finder'] must be 'batched' or 'pyxem', got {method!r}."
        )
    return method, kwargs


def _block_table(
    block,
    model,
    scale,
    offset,
    finder_kwargs,
    n_best,
    batch_size,
    device,
    refine,
    find_beam,
    undistortion,
):
    nav = block.shape[:-2]
    images = block.reshape(-1, *block.shape[-2:])
    peaks = find_peaks_batched(images, scale, offset, **finder_kwargs)
    field = detector_field(scale, offset, images.shape[-2:])
    table = orientation_table(
        peaks,
        model,
        n_best,
        batch_size,
        device,
        refine,
        field,
        find_beam,
        nav,
        undistortion,
    )
    return table.reshape(*nav, n_best, len(COLUMNS))


def detector_field(
    scale: tuple, offset: tuple, shape: tuple[int, int], margin: float = 3.0
) -> tuple[float, float, float, float]:
    """Return where peaks can be found on a detector, in 1/Å.

    Parameters
    ----------
    scale, offset
        Signal-axis calibration ``(x, y)`` each, in 1/Å.
    shape
        Pattern shape ``(rows, columns)``.
    margin
        Pixels left out along each edge: a disk cut by the edge may give no
        peak (the finder skips the outermost pixels).

    Returns
    -------
    field
        ``(kx_min, kx_max, ky_min, ky_max)``.

    Examples
    --------
    >>> from pyxem_transformer.mapping.inference import detector_field
    >>> [round(b, 2) for b in detector_field((0.02, 0.02), (-1.27, -1.27), (128, 128))]
    [-1.21, 1.21, -1.21, 1.21]
    """
    bounds = []
    for s, o, n in zip(scale, offset, shape[::-1], strict=True):
        first, last = sorted((o, o + (n - 1) * s))
        bounds += [first + margin * abs(s), last - margin * abs(s)]
    return tuple(float(b) for b in bounds)


def _navigation_axes(signal) -> list[dict]:
    return [
        {"name": a.name, "units": a.units, "scale": a.scale, "offset": a.offset}
        for a in signal.axes_manager.navigation_axes[::-1]
    ]


def _recalibrated(peaks: PeakSet, stored: tuple, corrected: tuple) -> PeakSet:
    """Move peaks found with the ``stored`` calibration to the ``corrected`` one."""
    (scale, offset), (new_scale, new_offset) = stored, corrected
    kx = new_offset[0] + (peaks.kx - offset[0]) / scale[0] * new_scale[0]
    ky = new_offset[1] + (peaks.ky - offset[1]) / scale[1] * new_scale[1]
    return PeakSet(kx=kx, ky=ky, intensity=peaks.intensity, offsets=peaks.offsets)


def map_vectors(
    vectors,
    model: OrientationTransformer,
    *,
    n_best: int = 1,
    batch_size: int = 1024,
    device: str = "auto",
    lazy_output: bool = False,
    navigation_axes: list[dict] | None = None,
    refine: bool | str = True,
    recalibrate: tuple | None = None,
    find_beam: bool = True,
):
    """Map orientation and phase from pyxem ``DiffractionVectors``.

    Parameters
    ----------
    vectors
        Ragged pyxem ``DiffractionVectors`` of a line or map scan, with
        ``kx``, ``ky`` (and ideally ``intensity``) columns in 1/Å relative to
        the direct beam.
    model, n_best, batch_size, device, refine, find_beam
        As for ``get_orientation_map_transformer``.
    lazy_output
        Return a lazy result signal.
    navigation_axes
        Axis descriptions for the result; default: the vectors' own.
    recalibrate
        ``((scale, offset), (new_scale, new_offset))``: the vectors were found
        with the first signal-axis calibration and are mapped in the second.

    Returns
    -------
    result
        A ``TransformerOrientationMap``.
    """
    model = _check_model(model)
    if vectors.axes_manager.navigation_dimension not in (1, 2):
        raise ValueError(
            "Expected vectors of a line or map scan (navigation dimension 1 or "
            f"2), got {vectors.axes_manager.navigation_dimension}."
        )
    nav_shape = vectors.axes_manager.navigation_shape[::-1]
    peaks = peaks_from_diffraction_vectors(vectors)
    if recalibrate is not None:
        peaks = _recalibrated(peaks, *recalibrate)
    table = orientation_table(
        peaks, model, n_best, batch_size, device, refine, None, find_beam, nav_shape
    )
    table = table.reshape(*nav_shape, n_best, len(COLUMNS))
    axes = navigation_axes if navigation_axes is not None else _navigation_axes(vectors)
    return result_signal(table, model.phases, axes, lazy=lazy_output)


def map_orientations(
    signal,
    model: OrientationTransformer,
    *,
    peak_kwargs: dict | None = None,
    vectors=None,
    batch_size: int = 1024,
    device: str = "auto",
    n_best: int = 1,
    lazy_output: bool | None = None,
    show_progressbar: bool | None = None,
    refine: bool | str = True,
    calibration: tuple | None = None,
    find_beam: bool = True,
    undistortion: np.ndarray | None = None,
):
    """Map orientation and phase of every pattern of a calibrated scan.

    See :func:`pyxem_transformer.signals.diffraction2d.get_orientation_map_transformer`
    for the parameters; ``signal`` has been validated there.

    Returns
    -------
    result
        A ``TransformerOrientationMap`` (lazy if ``lazy_output``).

    Parameters
    ----------
    signal
        A validated, calibrated pyxem ``Diffraction2D``.
    model
        The model.
    peak_kwargs, vectors, batch_size, device, n_best, lazy_output, show_progressbar
        As for ``get_orientation_map_transformer``.
    refine, find_beam
        As for ``get_orientation_map_transformer``.
    undistortion
        2x2 map undoing the lens distortion of peak positions about each
        beam (:meth:`pyxem_transformer.tokens.CalibrationCheck.undistortion`);
        None for none. Not applied to given ``vectors``.
    calibration
        ``(scale, offset)`` of the signal axes, ``(x, y)`` each, in 1/Å, to
        use instead of the signal's own (e.g. a corrected one from
        :meth:`pyxem_transformer.tokens.calibration.CalibrationCheck.corrected`).
    """
    model = _check_model(model)
    if not 1 <= n_best <= model.n_phases:
        raise ValueError(
            f"`n_best` must be between 1 and the model's number of phases "
            f"({model.n_phases}), got {n_best}."
        )
    method, finder_kwargs = _split_peak_kwargs(peak_kwargs)
    scales, offsets = reciprocal_calibration(signal)
    stored = (tuple(scales), tuple(offsets))
    scale, offset = calibration if calibration is not None else stored
    lazy = signal._lazy if lazy_output is None else bool(lazy_output)
    nav_shape = signal.axes_manager.navigation_shape[::-1]
    nav_axes = _navigation_axes(signal)
    if show_progressbar is None:
        from hyperspy.defaults_parser import preferences

        show_progressbar = preferences.General.show_progressbar

    if vectors is not None or method == "pyxem":
        return _map_found_vectors(
            signal,
            vectors,
            model,
            finder_kwargs,
            show_progressbar,
            dict(
                n_best=n_best,
                batch_size=batch_size,
                device=device,
                lazy_output=lazy,
                navigation_axes=nav_axes,
                refine=refine,
                recalibrate=None if calibration is None else (stored, calibration),
                find_beam=find_beam,
            ),
        )

    run_block = functools.partial(
        _block_table,
        scale=scale,
        offset=offset,
        finder_kwargs=finder_kwargs,
        n_best=n_best,
        batch_size=batch_size,
        device=device,
        refine=refine,
        find_beam=find_beam,
        undistortion=undistortion,
    )
    if signal._lazy:
        table = _lazy_table(signal.data, model, run_block, n_best)
        if not lazy:
            table = _computed(table, show_progressbar)
    else:
        table = _eager_table(
            signal.data, model, run_block, batch_size, show_progressbar
        )
        table = table.reshape(*nav_shape, n_best, len(COLUMNS))
    return result_signal(table, model.phases, nav_axes, lazy=lazy)


def _lazy_table(data, model, run_block, n_best: int):
    """The result table of a dask array of patterns, as a dask array."""
    sig_shape = data.shape[-2:]
    data = data.rechunk({data.ndim - 2: sig_shape[0], data.ndim - 1: sig_shape[1]})
    # One graph key for the weights (not pure: hashing the model would
    # pickle all of it, a tenth of a second, on every call).
    model_key = dask.delayed(model, pure=False)
    return da.map_blocks(
        run_block,
        data,
        model_key,
        dtype=np.float32,
        drop_axis=[data.ndim - 2, data.ndim - 1],
        new_axis=[data.ndim - 2, data.ndim - 1],
        chunks=data.chunks[:-2] + ((n_best,), (len(COLUMNS),)),
        meta=np.empty((0,) * data.ndim, np.float32),
    )


def _computed(table, show_progressbar: bool) -> np.ndarray:
    """Compute a dask table, with dask's progress bar if asked for."""
    from dask.diagnostics import ProgressBar

    if show_progressbar:
        with ProgressBar():
            return table.compute()
    return table.compute()


def _eager_table(data, model, run_block, batch_size: int, show_progressbar: bool):
    """The flat result table of an in-memory array of patterns, in batches."""
    images = np.asarray(data).reshape(-1, *data.shape[-2:])
    parts = []
    for start in tqdm(
        range(0, images.shape[0], batch_size),
        disable=not show_progressbar,
        desc="Mapping orientations",
        unit="batch",
    ):
        parts.append(run_block(images[start : start + batch_size], model))
    return np.concatenate(parts)


def _map_found_vectors(signal, vectors, model, finder_kwargs, show_progressbar, kw):
    """Map pyxem diffraction vectors of ``signal`` (found now if None)."""
    if vectors is None:
        vectors = signal.get_diffraction_vectors(
            show_progressbar=show_progressbar, **finder_kwargs
        )
    if vectors.axes_manager.navigation_shape != signal.axes_manager.navigation_shape:
        raise ValueError(
            f"The vectors cover a scan of {vectors.axes_manager.navigation_shape}"
            f", the signal {signal.axes_manager.navigation_shape}."
        )
    return map_vectors(vectors, model, **kw)
