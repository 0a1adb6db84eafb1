"""The per-pixel result table and the hyperspy signal that holds it.

Columns (:data:`COLUMNS`), for each of ``n_best`` candidates: the unit
quaternion, the phase index, the confidence, the number of tokens, the fit
quality (``explained``: the fraction of the tokens the answer explains;
``fit_rms``: their RMS residual in 1/Å; see
:mod:`pyxem_transformer.mapping.quality`) and the direct beam the tokens were
measured from (``beam_kx``, ``beam_ky`` in 1/Å from the stored centre; see
:mod:`pyxem_transformer.tokens.origin`). Results saved before the fit-quality
and beam columns existed hold the first seven only.
The signal is made by hyperspy's registry (``set_signal_type``), so mapping
needs no import of the signal classes in :mod:`pyxem_transformer.signals`.
"""

import json
from collections.abc import Sequence

import numpy as np
from hyperspy._signals.signal2d import Signal2D
from orix.crystal_map import Phase, PhaseList

from pyxem_transformer.crystal.phase_io import phase_to_dict

__all__ = ["COLUMNS", "SIGNAL_TYPE", "orientation_map_from_arrays", "result_signal"]

#: Column names of the last signal axis.
COLUMNS = (
    "qw",
    "qx",
    "qy",
    "qz",
    "phase_index",
    "confidence",
    "n_tokens",
    "explained",
    "fit_rms",
    "beam_kx",
    "beam_ky",
)

SIGNAL_TYPE = "transformer_orientation_map"


def result_signal(
    table,
    phases: Sequence[Phase] | PhaseList,
    navigation_axes: Sequence[dict] | None = None,
    lazy: bool = False,
) -> Signal2D:
    """Wrap a ``(*scan, n_best, len(COLUMNS))`` table (NumPy or dask) as a result.

    Parameters
    ----------
    table
        Per-pixel tables with columns :data:`COLUMNS`.
    phases
        The phases the phase indices refer to.
    navigation_axes
        Optional dictionaries (``name``, ``units``, ``scale``, ``offset``) of
        the navigation axes in array order (slowest first).
    lazy
        Return a lazy signal.

    Returns
    -------
    result
        A :class:`~pyxem_transformer.signals.TransformerOrientationMap` or
        its lazy twin.
    """
    if isinstance(phases, PhaseList):
        phases = [phases[i] for i in phases.ids]
    if lazy:
        import dask.array as da
        from hyperspy.signals import LazySignal2D

        result = LazySignal2D(da.asarray(table))
    else:
        result = Signal2D(np.asarray(table))
    # hyperspy's registry (our hyperspy_extension.yaml) picks the class.
    result.set_signal_type(SIGNAL_TYPE)
    if navigation_axes is not None:
        for axis, description in zip(
            result.axes_manager.navigation_axes[::-1], navigation_axes, strict=True
        ):
            for key in ("name", "units", "scale", "offset"):
                if key in description:
                    setattr(axis, key, description[key])
    columns, best = result.axes_manager.signal_axes
    columns.name, best.name = "columns", "n_best"
    result.metadata.set_item(
        "Transformer.phases", json.dumps([phase_to_dict(p) for p in phases])
    )
    result.metadata.set_item("Transformer.columns", list(COLUMNS))
    result.metadata.General.title = "Transformer orientation map"
    return result


def orientation_map_from_arrays(
    quaternions: np.ndarray,
    phase_index: np.ndarray,
    confidence: np.ndarray,
    phases: Sequence[Phase] | PhaseList,
    navigation_axes: Sequence[dict] | None = None,
    n_tokens: np.ndarray | None = None,
    **columns: np.ndarray,
) -> Signal2D:
    """Assemble a result signal from per-pixel arrays.

    Parameters
    ----------
    quaternions
        Shape ``(*scan, n_best, 4)`` unit quaternions.
    phase_index
        Shape ``(*scan, n_best)`` indices into ``phases``.
    confidence
        Shape ``(*scan, n_best)`` values in [0, 1].
    phases
        The phases the indices refer to.
    navigation_axes
        As in :func:`result_signal`.
    n_tokens
        Shape ``(*scan, n_best)`` token counts (default 0).
    **columns
        Further columns of :data:`COLUMNS` by name, each ``(*scan, n_best)``:
        ``explained`` and ``fit_rms`` (default NaN: not computed),
        ``beam_kx`` and ``beam_ky`` (default 0: the stored centre).

    Returns
    -------
    result
        A :class:`~pyxem_transformer.signals.TransformerOrientationMap`.
    """
    quaternions = np.asarray(quaternions, dtype=np.float32)
    scan = quaternions.shape[:-2]
    n_best = quaternions.shape[-2]
    if quaternions.shape[-1] != 4 or len(scan) not in (1, 2):
        raise ValueError(
            f"Expected quaternions of shape (*scan, n_best, 4) with a 1-D or 2-D "
            f"scan, got {quaternions.shape}."
        )
    if n_tokens is None:
        n_tokens = np.zeros((*scan, n_best))
    unknown = set(columns) - set(COLUMNS[7:])
    if unknown:
        raise ValueError(f"Unknown column(s) {sorted(unknown)}; see COLUMNS.")
    default = {"explained": np.nan, "fit_rms": np.nan, "beam_kx": 0.0, "beam_ky": 0.0}
    arrays = {
        "phase_index": phase_index,
        "confidence": confidence,
        "n_tokens": n_tokens,
        **{
            name: columns.get(name, np.full((*scan, n_best), default[name]))
            for name in COLUMNS[7:]
        },
    }
    for name, array in arrays.items():
        if np.shape(array) != (*scan, n_best):
            raise ValueError(
                f"`{name}` has shape {np.shape(array)}, expected {(*scan, n_best)}."
            )
    table = np.concatenate(
        [quaternions] + [np.asarray(a)[..., None] for a in arrays.values()], axis=-1
    ).astype(np.float32)
    return result_signal(table, phases, navigation_axes)
