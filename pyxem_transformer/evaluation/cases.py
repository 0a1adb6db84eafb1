"""The cases of the benchmark suite."""

from dataclasses import dataclass

from pyxem_transformer.evaluation.measured import Artefacts

__all__ = ["CASES", "NEEDS_ABTEM", "QUICK_CASES", "Case"]

#: Template matching's library excitation error (1/Å) on dynamical cases:
#: its best of 0.02, 0.05 and 0.1 under 5° (14%, 17%, 14%) on a 32x32
#: dynamical Cu sample at 100 Å (seed 7, not a benchmark seed; hand-run).
DYNAMICAL_LIBRARY_EXCITATION = 0.05


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
    physics
        ``"kinematic"`` (diffsims spots), ``"dynamical"`` (Bloch waves at
        ``thickness``) or ``"precession"`` (at ``precession_angle``), made by
        :func:`~pyxem_transformer.evaluation.dynamical.dynamical_grains` for
        the last two.
    thickness
        Sample thickness in Å of dynamical cases.
    precession_angle
        Precession angle in degrees of precession cases.
    n_grains
        Grains in the scan; None: one per 100 patterns.
    refine
        The transformer's ``refine`` (``"dynamical"`` on the dynamical cases,
        as a user mapping a thick sample would set it).
    """

    name: str
    model: str
    dose: float | None = None
    excitation_error: float = 0.1
    library_excitation_error: float | None = None
    scale_error: float = 0.0
    centre_offset_px: float = 0.0
    measured: bool = False
    physics: str = "kinematic"
    thickness: float = 300.0
    precession_angle: float = 1.0
    n_grains: int | None = None
    refine: bool | str = True

    def describe(self) -> str:
        """Return the case in words.

        Returns
        -------
        text
            Dose, excitation errors and calibration errors.
        """
        parts = ["noise-free" if self.dose is None else f"{self.dose:g} e/pattern"]
        if self.physics == "dynamical":
            parts.append(f"Bloch-wave intensities at {self.thickness:g} Å (abTEM)")
        elif self.physics == "precession":
            parts.append(f"kinematic precession at {self.precession_angle:g}°")
        if self.physics != "dynamical":
            parts.append(f"data excitation error {self.excitation_error} 1/Å")
        if self.library_excitation_error is not None:
            parts.append(f"library excitation error {self.library_excitation_error}")
        if self.scale_error:
            parts.append(f"calibration stored {self.scale_error:+.0%}")
        if self.centre_offset_px:
            parts.append(f"centre stored {self.centre_offset_px:g} px off")
        if self.n_grains is not None:
            parts.append(f"{self.n_grains} grains")
        if self.refine == "dynamical":
            parts.append("mapped with refine='dynamical'")
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
    + [
        Case(
            f"{name}-dyn-{t}",
            name,
            dose=3000.0,
            library_excitation_error=DYNAMICAL_LIBRARY_EXCITATION,
            physics="dynamical",
            thickness=float(t),
            n_grains=64,
            refine="dynamical",
        )
        for name, t in (("cu", 100), ("cu", 300), ("cu", 600), ("cu_cu2o", 300))
    ]
    + [
        Case(
            "cu-ped",
            "cu",
            dose=3000.0,
            physics="precession",
            precession_angle=1.0,
            n_grains=64,
        )
    ]
}

#: The cases that need abTEM (the ``dynamical`` extra).
NEEDS_ABTEM = tuple(n for n, c in CASES.items() if c.physics == "dynamical")

#: The smoke-test subset run by ``--quick``.
QUICK_CASES = ("cu-free", "cu_cu2o-3000")
