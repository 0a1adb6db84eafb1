"""Input checks shared by the public functions, with errors that say the fix."""

from collections.abc import Sequence

import numpy as np
from orix.crystal_map import Phase, PhaseList

# Spellings of 1/Å that pyxem, hyperspy and common file readers write,
# mapped to the factor that converts the axis to 1/Å.
_RECIPROCAL_UNITS = {
    r"$\AA^{-1}$": 1.0,
    "$A^{-1}$": 1.0,
    "A^-1": 1.0,
    "A-1": 1.0,
    "1/A": 1.0,
    "Å^-1": 1.0,
    "Å-1": 1.0,
    "1/Å": 1.0,
    "k_A^-1": 1.0,
    "nm$^{-1}$": 0.1,
    "nm^-1": 0.1,
    "nm-1": 0.1,
    "1/nm": 0.1,
    "k_nm^-1": 0.1,
}


def as_phase_list(phases: Phase | Sequence[Phase] | PhaseList) -> PhaseList:
    """Return phases as an orix ``PhaseList`` numbered from 0, after checks.

    Raises
    ------
    TypeError
        If an element is not an orix ``Phase``.
    ValueError
        If no phase is given, names repeat, or a phase has no atoms.
    """
    if isinstance(phases, PhaseList):
        phases = [phases[i] for i in phases.ids]
    elif isinstance(phases, Phase):
        phases = [phases]
    phases = list(phases)
    if not phases:
        raise ValueError("At least one phase is needed.")
    for phase in phases:
        if not isinstance(phase, Phase):
            raise TypeError(
                f"Expected orix.crystal_map.Phase objects, got {type(phase).__name__}."
            )
        if phase.structure is None or len(phase.structure) == 0:
            raise ValueError(
                f"Phase {phase.name!r} has no atoms, so no diffraction can be "
                "simulated. Build it with a diffpy Structure (e.g. from a CIF "
                "file: orix.crystal_map.Phase.from_cif(path)) or use "
                "pyxem_transformer.crystal.phases."
            )
        if phase.space_group is None and phase.point_group is None:
            raise ValueError(
                f"Phase {phase.name!r} has no space or point group; set "
                "`space_group=` when building it."
            )
    names = [p.name for p in phases]
    if len(set(names)) != len(names) or "" in names:
        raise ValueError(
            f"Phases need distinct, non-empty names to be told apart, got {names}."
        )
    return PhaseList(phases=phases, ids=list(range(len(phases))))


def reciprocal_calibration(signal) -> tuple[np.ndarray, np.ndarray]:
    """Return the signal axes' scale and offset in 1/Å, ``(x, y)`` order.

    Raises
    ------
    ValueError
        If the signal axes are not calibrated in reciprocal length units.
    """
    axes = signal.axes_manager.signal_axes
    scales, offsets = [], []
    for axis in axes:
        units = axis.units if isinstance(axis.units, str) else ""
        factor = _RECIPROCAL_UNITS.get(units.strip())
        if factor is None or not getattr(axis, "is_uniform", True):
            raise ValueError(
                f"The signal axis {axis.name!r} has units {axis.units!r}; a "
                "uniform reciprocal-space calibration in 1/Å is needed. Set "
                "it with `s.calibration.scale = <1/Å per pixel>` and "
                "`s.calibration.units = r'$\\AA^{-1}$'` (and "
                "`s.calibration.center = None` for a centred direct beam)."
            )
        if not np.isfinite(axis.scale) or axis.scale <= 0:
            raise ValueError(
                f"The signal axis {axis.name!r} has scale {axis.scale!r}; it must "
                "be a positive number of 1/Å per pixel."
            )
        scales.append(axis.scale * factor)
        offsets.append(axis.offset * factor)
    return np.array(scales), np.array(offsets)


def check_diffraction_signal(signal) -> None:
    """Check dimensions and calibration of a signal to be mapped.

    Raises
    ------
    ValueError
        If the signal is not a 1-D or 2-D scan of 2-D patterns calibrated
        in 1/Å; the message says how to fix it.
    """
    am = signal.axes_manager
    if am.signal_dimension != 2:
        raise ValueError(
            f"Expected 2-D diffraction patterns (signal dimension 2), got signal "
            f"dimension {am.signal_dimension}. Use `s.transpose(signal_axes=2)` "
            "or load the data as a pyxem Diffraction2D."
        )
    if am.navigation_dimension not in (1, 2):
        raise ValueError(
            f"Expected a line or map scan (navigation dimension 1 or 2), got "
            f"navigation dimension {am.navigation_dimension}. Map a single "
            "pattern as a one-pixel line scan: `hs.stack([s, s]).inav[:1]`; split "
            "extra dimensions (e.g. a time series) into separate 2-D scans."
        )
    reciprocal_calibration(signal)
