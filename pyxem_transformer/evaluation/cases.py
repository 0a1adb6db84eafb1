"""The cases of the benchmark suite."""

from dataclasses import dataclass

from pyxem_transformer.evaluation.measured import Artefacts

__all__ = ["CASES", "QUICK_CASES", "Case"]


@dataclass(frozen=True)
class Case:
    """One benchmark sample.

    Attributes
    ----------
    name
        Case name used on the command line.
    model
        Shipped model (:func:`pyxem_transformer.pretrained`); its phases are
        simulated.
    dose
        Electrons per pattern, or None for noise-free patterns.
    excitation_error
        The data's ``max_excitation_error`` (1/Å).
    library_excitation_error
        Template matching's library value; None: the data's (its best).
    scale_error
        Relative error of the stored calibration (0.03: 3% too large).
    centre_offset_px
        Error of the stored direct-beam position in pixels (both axes).
    measured
        Give the patterns the artefacts of measured data
        (:class:`~pyxem_transformer.evaluation.measured.Artefacts` defaults:
        descan to 4 px, 3% ellipticity, diffuse background and amorphous
        ring, 0.3 px spot error), mapped as loaded.
    """

    name: str
    model: str
    dose: float | None = None
    excitation_error: float = 0.1
    library_excitation_error: float | None = None
    scale_error: float = 0.0
    centre_offset_px: float = 0.0
    measured: bool = False

    def describe(self) -> str:
        """Return the case in words.

        Returns
        -------
        text
            Dose, excitation errors and calibration errors.
        """
        parts = [
            "noise-free" if self.dose is None else f"{self.dose:g} e/pattern",
            f"data excitation error {self.excitation_error} 1/Å",
        ]
        if self.library_excitation_error is not None:
            parts.append(f"library excitation error {self.library_excitation_error}")
        if self.scale_error:
            parts.append(f"calibration stored {self.scale_error:+.0%}")
        if self.centre_offset_px:
            parts.append(f"centre stored {self.centre_offset_px:g} px off")
        if self.measured:
            a = Artefacts()
            parts.append(
                f"measured-data artefacts (descan to {a.descan_px:g} px + "
                f"{a.descan_jitter_px:g} px jitter, {a.ellipticity:.0%} "
                f"ellipticity, background {a.background:g} + amorphous ring, "
                f"{a.position_error_px:g} px spot error), as loaded"
            )
        return ", ".join(parts)


def _doses(name: str, model: str) -> list[Case]:
    return [
        Case(f"{name}-free", model),
        Case(f"{name}-3000", model, dose=3000.0),
        Case(f"{name}-300", model, dose=300.0),
    ]


#: Every case of the full suite.
CASES: dict[str, Case] = {
    c.name: c
    for c in _doses("cu", "cu")
    + _doses("ti", "ti")
    + _doses("cu_cu2o", "cu_cu2o")
    + [
        Case("cu-calibration", "cu", dose=3000.0, scale_error=0.03, centre_offset_px=1),
        Case(
            "cu-excitation",
            "cu",
            dose=3000.0,
            excitation_error=0.05,
            library_excitation_error=0.1,
        ),
    ]
    + [
        Case(f"{name}-measured", name, dose=3000.0, measured=True)
        for name in ("cu", "ti", "cu_cu2o")
    ]
}

#: The smoke-test subset run by ``--quick``.
QUICK_CASES = ("cu-free", "cu_cu2o-3000")
