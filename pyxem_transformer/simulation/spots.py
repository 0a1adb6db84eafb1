"""Training sets of simulated spot lists, with an on-disk cache.

Rotations are drawn uniformly over each phase's fundamental zone (uniform
SO(3) samples mapped into the zone of the proper point group with orix),
and diffsims simulates their kinematical spot lists. Thickness and tilt are
unknown on real samples, so the excitation-error cut-off is drawn per chunk
of patterns from a range.

Spots are returned in the detector frame of a pyxem signal (see
:func:`detector_frame`), so a simulated set and the peaks found in a
measured pattern go through the same token function.
"""

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from orix.crystal_map import Phase, PhaseList
from tqdm.auto import tqdm

from pyxem_transformer._validation import as_phase_list
from pyxem_transformer.crystal.phase_io import (
    phase_from_dict,
    phase_to_dict,
)
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.simulation._chunks import fill_dynamical, simulate_phase
from pyxem_transformer.simulation.frame import detector_frame  # noqa: F401 (old home)

__all__ = [
    "SimulationSettings",
    "SpotSet",
    "default_cache_dir",
    "simulate_spots",
]

#: Version of the cached spot lists: 2 since diffsims is given `diffsims_phase`
#: copies (hexagonal intensities changed), so no older cache is reused.
_FORMAT = 2


@dataclass(frozen=True)
class SimulationSettings:
    """Physics and sampling settings of a simulated training set.

    Attributes
    ----------
    accelerating_voltage
        Beam energy in kV.
    reciprocal_radius
        Largest ``|g|`` simulated, in 1/Å.
    max_excitation_error
        ``(low, high)`` range in 1/Å of the diffsims excitation-error
        cut-off, drawn uniformly per chunk.
    minimum_intensity
        Spots weaker than this fraction of the pattern's strongest are
        dropped (kinematically forbidden reflections carry ~1e-19).
    chunk_size
        Patterns simulated per diffsims call.
    dynamical_fraction, precession_fraction
        Shares of the chunks simulated with Bloch waves (abTEM, the
        ``dynamical`` extra) and with kinematic precession; the rest are
        kinematic (:mod:`~pyxem_transformer.simulation.physics`).
    thickness
        ``(low, high)`` sample thickness in Å of dynamical patterns, drawn
        log-uniformly per pattern.
    thermal_sigma
        ``(low, high)`` RMS thermal displacement in Å (Debye-Waller) of
        dynamical patterns, drawn per chunk.
    precession_angle
        ``(low, high)`` precession angle in degrees, drawn per chunk.
    """

    accelerating_voltage: float = 200.0
    reciprocal_radius: float = 1.5
    max_excitation_error: tuple[float, float] = (0.04, 0.12)
    minimum_intensity: float = 1e-4
    chunk_size: int = 250
    dynamical_fraction: float = 0.0
    precession_fraction: float = 0.0
    thickness: tuple[float, float] = (50.0, 1000.0)
    thermal_sigma: tuple[float, float] = (0.05, 0.1)
    precession_angle: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self) -> None:
        low, high = self.max_excitation_error
        if not 0 < low <= high:
            raise ValueError(
                "`max_excitation_error` must be a (low, high) range with "
                f"0 < low <= high, got {self.max_excitation_error}."
            )
        if self.reciprocal_radius <= 0 or self.accelerating_voltage <= 0:
            raise ValueError("Radius and voltage must be positive.")
        if int(self.chunk_size) < 1:
            raise ValueError("`chunk_size` must be at least 1.")
        fractions = (self.dynamical_fraction, self.precession_fraction)
        if min(fractions) < 0 or sum(fractions) > 1:
            raise ValueError(
                "`dynamical_fraction` and `precession_fraction` must be >= 0 "
                f"with a sum of at most 1, got {fractions}."
            )
        for name in ("thickness", "thermal_sigma", "precession_angle"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    f"`{name}` must be a (low, high) range with 0 < low <= high, "
                    f"got {getattr(self, name)}."
                )

    def physics_key(self) -> dict:
        """The settings that decide the simulated spots (the cache key).

        Kinematic-only settings leave out the fields of the other physics,
        so their cached sets keep the keys they had before those existed.

        Returns
        -------
        key
            The fields as a dictionary of plain values.
        """
        key = asdict(self)
        if self.dynamical_fraction == 0 and self.precession_fraction == 0:
            for name in _PHYSICS_FIELDS:
                del key[name]
        return key


#: Fields of :class:`SimulationSettings` that only matter for dynamical or
#: precession chunks.
_PHYSICS_FIELDS = (
    "dynamical_fraction",
    "precession_fraction",
    "thickness",
    "thermal_sigma",
    "precession_angle",
)


@dataclass
class SpotSet:
    """Simulated spot lists with their rotations and phases.

    Attributes
    ----------
    peaks
        Spots of every pattern in the detector frame (1/Å), no direct beam.
    rotations
        ``(n, 4)`` unit quaternions (diffsims/orix convention).
    phase_index
        ``(n,)`` index into ``phases``.
    excitation_error
        ``(n,)`` excitation-error cut-off each pattern was simulated with.
    phases
        The phases, as an orix ``PhaseList`` numbered from 0.
    settings
        The simulation settings.
    seconds
        Time the simulation took (0 when read from the cache).
    physics
        ``(n,)`` code of each pattern's physics, an index into
        :data:`~pyxem_transformer.simulation.physics.PHYSICS` (0: kinematic).
    physics_parameter
        ``(n,)`` thickness (Å) of dynamical patterns, precession angle
        (degrees) of precession ones, NaN for kinematic ones.
    """

    peaks: PeakSet
    rotations: np.ndarray
    phase_index: np.ndarray
    excitation_error: np.ndarray
    phases: PhaseList
    settings: SimulationSettings
    seconds: float = field(default=0.0)
    physics: np.ndarray | None = None
    physics_parameter: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.phase_index)
        if self.physics is None:
            self.physics = np.zeros(n, np.int8)
        if self.physics_parameter is None:
            self.physics_parameter = np.full(n, np.nan, np.float32)

    @property
    def n_patterns(self) -> int:
        """Number of patterns."""
        return self.peaks.n_patterns

    def save(self, path: str | Path) -> None:
        """Write the set as an ``.npz`` file atomically (no pickles).

        Parameters
        ----------
        path
            File to write.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT,
            "phases": [phase_to_dict(self.phases[i]) for i in self.phases.ids],
            "settings": asdict(self.settings),
        }
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                kx=self.peaks.kx,
                ky=self.peaks.ky,
                intensity=self.peaks.intensity,
                offsets=self.peaks.offsets,
                rotations=self.rotations.astype(np.float32),
                phase_index=self.phase_index.astype(np.int16),
                excitation_error=self.excitation_error.astype(np.float32),
                physics=np.asarray(self.physics, np.int8),
                physics_parameter=np.asarray(self.physics_parameter, np.float32),
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> "SpotSet":
        """Read a set written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(bytes(f["meta"]).decode())
                if meta.get("format") != _FORMAT:
                    raise ValueError(f"unsupported format {meta.get('format')}")
                peaks = PeakSet(f["kx"], f["ky"], f["intensity"], f["offsets"])
                rotations = f["rotations"].astype(np.float64)
                phase_index = f["phase_index"].astype(np.int64)
                excitation_error = f["excitation_error"]
                # Sets written before physics mixtures are all kinematic.
                physics = f["physics"] if "physics" in f.files else None
                parameter = (
                    f["physics_parameter"] if "physics_parameter" in f.files else None
                )
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise ValueError(
                f"{path} is not a readable simulated spot set ({error}); delete "
                "it to simulate again."
            ) from error
        settings = meta["settings"]
        for name in ("max_excitation_error", *_PHYSICS_FIELDS[2:]):
            if name in settings:
                settings[name] = tuple(settings[name])
        phase_objs = [phase_from_dict(d) for d in meta["phases"]]
        return cls(
            peaks=peaks,
            rotations=rotations,
            phase_index=phase_index,
            excitation_error=excitation_error,
            phases=PhaseList(phases=phase_objs, ids=list(range(len(phase_objs)))),
            settings=SimulationSettings(**settings),
            physics=physics,
            physics_parameter=parameter,
        )


def default_cache_dir() -> Path:
    """Return the cache folder of simulated sets.

    ``$PYXEM_TRANSFORMER_CACHE`` if set, else ``~/.cache/pyxem-transformer``.

    Returns
    -------
    folder
        The cache folder (not created here).
    """
    env = os.environ.get("PYXEM_TRANSFORMER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pyxem-transformer"


def _cache_key(phase_dicts: list[dict], n_per_phase: int, settings, seed: int) -> str:
    description = json.dumps(
        {
            "format": _FORMAT,
            "phases": phase_dicts,
            "n_per_phase": n_per_phase,
            "settings": settings.physics_key(),
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(description.encode()).hexdigest()[:20]


def simulate_spots(
    phases: Phase | Sequence[Phase],
    n_per_phase: int,
    settings: SimulationSettings = SimulationSettings(),
    seed: int = 0,
    cache_dir: str | Path | None = None,
    show_progressbar: bool = True,
    n_jobs: int | None = None,
) -> SpotSet:
    """Simulate spot lists of random orientations for each phase.

    Parameters
    ----------
    phases
        One orix phase or several, each with atoms.
    n_per_phase
        Patterns per phase.
    settings
        Physics and sampling settings.
    seed
        Seed of the rotations and excitation errors.
    cache_dir
        Folder of cached sets; a set with the same phases, size, settings
        and seed is read from there instead of simulated. None: no cache.
    show_progressbar
        Show a tqdm progress bar over chunks.
    n_jobs
        Worker processes for dynamical patterns; None: one per CPU core.

    Returns
    -------
    spots
        A :class:`SpotSet` with patterns of phase 0 first, then phase 1, ...

    Examples
    --------
    >>> from pyxem_transformer import phases, simulation
    >>> s = simulation.simulate_spots(phases.cu(), 20, show_progressbar=False)
    >>> s.n_patterns, s.rotations.shape
    (20, (20, 4))
    """
    phase_list = as_phase_list(phases)
    phase_objs = [phase_list[i] for i in phase_list.ids]
    if isinstance(n_per_phase, bool) or int(n_per_phase) < 1:
        raise ValueError(f"`n_per_phase` must be at least 1, got {n_per_phase}.")
    n_per_phase = int(n_per_phase)
    phase_dicts = [phase_to_dict(p) for p in phase_objs]
    path = None
    if cache_dir is not None:
        key = _cache_key(phase_dicts, n_per_phase, settings, seed)
        path = Path(cache_dir) / f"spots-{key}.npz"
        if path.exists():
            return SpotSet.load(path)

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    parts = []
    with tqdm(
        total=n_per_phase * len(phase_objs),
        disable=not show_progressbar,
        desc="Simulating spots",
        unit="pattern",
    ) as bar:
        for index, phase in enumerate(phase_objs):
            parts += simulate_phase(phase, index, n_per_phase, settings, rng, bar)
        fill_dynamical(parts, phase_objs, settings, n_jobs, show_progressbar)
    spots = [s for part in parts for s in part["spots"]]
    result = SpotSet(
        peaks=PeakSet.from_lists(spots),
        rotations=np.concatenate([p["rotations"] for p in parts]),
        phase_index=np.concatenate([p["phase_index"] for p in parts]),
        excitation_error=np.concatenate([p["excitation_error"] for p in parts]),
        phases=phase_list,
        settings=settings,
        seconds=time.perf_counter() - start,
        physics=np.concatenate([p["physics"] for p in parts]),
        physics_parameter=np.concatenate([p["parameter"] for p in parts]),
    )
    if path is not None:
        result.save(path)
    return result
