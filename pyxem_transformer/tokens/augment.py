"""Augmentation of simulated spots to look like peaks found in measured data.

Each effect models one way real acquisition or peak finding departs from a
kinematical spot list, is switched off by setting it to 0 (or False), and
acts per pattern on a :class:`~pyxem_transformer.tokens.peaks.PeakSet` before
tokens are made. The defaults come from the domain-gap figures of
``python -m pyxem_transformer.evaluation.domain_gap`` (missed weak spots, spurious
peaks and position error of the batched finder on simulated Cu images:
noise-free 97% of spots found, 1.0 spurious peak per pattern; 3000
e/pattern 73%, 6.1 spurious, 0.015 1/Å median position error; 300
e/pattern 31%, 10.3 spurious, 0.020 1/Å), widened to cover calibration and
centring errors of real instruments.
"""

from dataclasses import asdict, dataclass

import numpy as np

from pyxem_transformer.peak_set import PeakSet

__all__ = ["AugmentationSettings", "augment_peaks"]

#: Range of the electrons a spot needs to be found, drawn per counted
#: pattern. The batched finder on Bloch-wave Cu at 3000 e/pattern (disks of
#: sigma 2 px, 192 grains, hand-run) found 35% of the spots worth 1-2
#: electrons, 47% at 2-3, 68% at 3-5 and 92% above 8.
DETECTED_COUNTS = (1.0, 4.0)


@dataclass(frozen=True)
class AugmentationSettings:
    """Ranges of the augmentation effects (0 or False switches one off).

    Attributes
    ----------
    intensity_noise
        Standard deviation of log-normal multiplicative intensity noise
        (dynamical scattering, shot noise); 0.5 is a factor of about 1.6.
    intensity_gamma
        Intensities are raised to a power drawn uniformly from
        ``(1 - g, 1 + g)`` per pattern (thickness, detector non-linearity).
    missed_below
        Spots weaker than ``t`` times the strongest are lost, with ``t``
        drawn uniformly from ``(0, missed_below)`` per pattern.
    drop_probability
        Each spot is missed at random with a probability drawn uniformly
        from ``(0, drop_probability)`` per pattern.
    spurious_rate
        Spurious peaks per pattern are Poisson with a mean drawn uniformly
        from ``(0, spurious_rate)``, uniform in the disk of radius
        ``spurious_radius``.
    spurious_intensity
        Spurious peaks get intensities up to this fraction of the strongest.
    spurious_radius
        Radius in 1/Å of the region spurious peaks fall in.
    position_jitter
        Standard deviation in 1/Å of each peak's position error (sub-pixel).
    scale_error
        Calibration scale drawn uniformly from ``(1 - s, 1 + s)`` per pattern.
    centre_offset
        Standard deviation in 1/Å of the direct-beam centre error.
    ellipticity
        Stretch along a random direction, uniform in ``(1 - e, 1 + e)``.
    in_plane_rotation
        Turn every pattern by a random angle about the beam and update its
        rotation to match (``R * Rz(angle)``), which multiplies the variety
        of in-plane angles the model sees.
    counted_dose
        Patterns whose intensities are fractions of the incident beam
        (Bloch-wave ones, passed as ``absolute`` to :func:`augment_peaks`)
        are counted as a detector would: a dose log-uniform in
        ``(counted_dose / 30, counted_dose)`` electrons per pattern, Poisson
        counts per spot, and only spots of at least ``DETECTED_COUNTS``
        (drawn per pattern) kept. There most of the beam stays in the direct
        beam, so the dose, not the spots' relative strength, decides which
        reflections a peak finder sees.
    """

    intensity_noise: float = 0.4
    intensity_gamma: float = 0.3
    missed_below: float = 0.05
    drop_probability: float = 0.3
    spurious_rate: float = 8.0
    spurious_intensity: float = 0.1
    spurious_radius: float = 1.3
    position_jitter: float = 0.008
    scale_error: float = 0.03
    centre_offset: float = 0.01
    ellipticity: float = 0.02
    in_plane_rotation: bool = True
    counted_dose: float = 30_000.0

    def as_dict(self) -> dict:
        """Return the settings as a plain dictionary.

        Returns
        -------
        settings
            Field names and values.
        """
        return asdict(self)

    @classmethod
    def off(cls) -> "AugmentationSettings":
        """Return settings with every effect switched off."""
        return cls(**{k: type(v)(0) for k, v in asdict(cls()).items()})


def _rotate_about_z(quaternions: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Return ``q * Rz(angle)`` for unit quaternions ``(n, 4)`` (w, x, y, z)."""
    w, x, y, z = quaternions.T
    c, s = np.cos(angles / 2), np.sin(angles / 2)
    # Hamilton product q * (c, 0, 0, s).
    out = np.stack([w * c - z * s, x * c + y * s, y * c - x * s, z * c + w * s], 1)
    out[out[:, 0] < 0] *= -1
    return out


def augment_peaks(
    peaks: PeakSet,
    rotations: np.ndarray,
    rng: np.random.Generator,
    settings: AugmentationSettings = AugmentationSettings(),
    absolute: np.ndarray | None = None,
) -> tuple[PeakSet, np.ndarray]:
    """Apply the augmentation effects to a batch of peak lists.

    Parameters
    ----------
    peaks
        Peaks of ``n`` patterns (detector frame, 1/Å).
    rotations
        ``(n, 4)`` quaternions of the patterns; returned updated for the
        in-plane rotation.
    rng
        Random generator (seeded by the caller).
    settings
        Ranges of the effects.
    absolute
        ``(n,)`` booleans: the patterns whose intensities are fractions of
        the incident beam, which ``counted_dose`` applies to. None: none.

    Returns
    -------
    peaks, rotations
        The augmented peaks and the matching rotations.
    """
    n = peaks.n_patterns
    rotations = np.asarray(rotations, dtype=np.float64).reshape(n, 4)
    idx = peaks.pattern_index
    kx = peaks.kx.astype(np.float64)
    ky = peaks.ky.astype(np.float64)
    intensity = peaks.intensity.astype(np.float64)
    keep = np.ones(kx.size, bool)
    if absolute is not None and settings.counted_dose:
        intensity, keep = _counted(intensity, idx, n, absolute, rng, settings)

    rel, keep = _relative_intensities(intensity, idx, n, keep, rng, settings)
    if settings.spurious_rate:
        idx, kx, ky, rel, keep = _with_spurious(
            idx, kx, ky, rel, keep, n, rng, settings
        )
    if settings.in_plane_rotation:
        # Turning the detector-frame spots by +phi is the rotation R * Rz(phi)
        # (pinned in tests/test_simulation.py).
        phi = rng.uniform(0, 2 * np.pi, n)
        c, s = np.cos(phi)[idx], np.sin(phi)[idx]
        kx, ky = c * kx - s * ky, s * kx + c * ky
        rotations = _rotate_about_z(rotations, phi)
    kx, ky = _distorted(kx, ky, idx, n, rng, settings)

    order = np.argsort(idx[keep], kind="stable")
    idx, kx, ky, rel = (a[keep][order] for a in (idx, kx, ky, rel))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(idx, minlength=n))])
    return PeakSet(kx, ky, rel, offsets), rotations


def _counted(intensity, idx, n, absolute, rng, settings):
    """Electron counts of the absolute patterns' spots; too few are lost."""
    absolute = np.asarray(absolute, bool).reshape(n)
    rows = absolute[idx]
    keep = np.ones(intensity.size, bool)
    if not rows.any():  # draws nothing: kinematic sets augment as before
        return intensity, keep
    top = np.log(settings.counted_dose)
    dose = np.exp(rng.uniform(top - np.log(30.0), top, n))
    needed = rng.uniform(*DETECTED_COUNTS, n)
    counts = rng.poisson(dose[idx[rows]] * np.clip(intensity[rows], 0, None))
    intensity = intensity.copy()
    intensity[rows] = counts
    keep[rows] = counts >= needed[idx[rows]]
    return intensity, keep


def _relative_intensities(intensity, idx, n, keep, rng, settings):
    """Intensities relative to each pattern's strongest, re-shaped and
    thinned out (weak and random peaks dropped from ``keep``)."""
    strongest = np.zeros(n)
    np.maximum.at(strongest, idx, intensity)
    rel = intensity / np.where(strongest[idx] > 0, strongest[idx], 1)
    if settings.intensity_gamma:
        g = settings.intensity_gamma
        rel = rel ** rng.uniform(1 - g, 1 + g, n)[idx]
    if settings.intensity_noise:
        rel = rel * rng.lognormal(0.0, settings.intensity_noise, rel.size)
    if settings.missed_below:
        keep &= rel >= rng.uniform(0, settings.missed_below, n)[idx]
    if settings.drop_probability:
        p_drop = rng.uniform(0, settings.drop_probability, n)[idx]
        keep &= rng.random(rel.size) >= p_drop

    return rel, keep


def _with_spurious(idx, kx, ky, rel, keep, n, rng, settings):
    """Add spurious peaks, uniform over the disk of ``spurious_radius``."""
    extra = rng.poisson(rng.uniform(0, settings.spurious_rate, n))
    extra_idx = np.repeat(np.arange(n), extra)
    radius = settings.spurious_radius * np.sqrt(rng.random(extra_idx.size))
    angle = rng.uniform(0, 2 * np.pi, extra_idx.size)
    idx = np.concatenate([idx, extra_idx])
    kx = np.concatenate([kx, radius * np.cos(angle)])
    ky = np.concatenate([ky, radius * np.sin(angle)])
    rel = np.concatenate(
        [rel, rng.uniform(0, settings.spurious_intensity, extra_idx.size)]
    )
    keep = np.concatenate([keep, np.ones(extra_idx.size, bool)])

    return idx, kx, ky, rel, keep


def _distorted(kx, ky, idx, n, rng, settings):
    """Ellipticity, scale error, centre offset and position jitter."""
    if settings.ellipticity:
        e = settings.ellipticity
        stretch = rng.uniform(1 - e, 1 + e, n)[idx]
        axis = rng.uniform(0, np.pi, n)[idx]
        ux, uy = np.cos(axis), np.sin(axis)
        along = kx * ux + ky * uy
        kx = kx + (stretch - 1) * along * ux
        ky = ky + (stretch - 1) * along * uy
    if settings.scale_error:
        scale = rng.uniform(1 - settings.scale_error, 1 + settings.scale_error, n)
        kx, ky = kx * scale[idx], ky * scale[idx]
    if settings.centre_offset:
        shift = rng.normal(0, settings.centre_offset, (n, 2))
        kx, ky = kx + shift[idx, 0], ky + shift[idx, 1]
    if settings.position_jitter:
        kx = kx + rng.normal(0, settings.position_jitter, kx.size)
        ky = ky + rng.normal(0, settings.position_jitter, ky.size)

    return kx, ky
