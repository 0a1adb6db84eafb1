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
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.crystal_map import Phase, PhaseList
from orix.quaternion import Orientation
from tqdm.auto import tqdm

from pyxem_transformer._validation import as_phase_list
from pyxem_transformer.crystal.phase_io import (
    diffsims_phase,
    phase_from_dict,
    phase_to_dict,
)
from pyxem_transformer.peak_set import PeakSet
from pyxem_transformer.simulation.sampling import random_rotations

__all__ = [
    "SimulationSettings",
    "SpotSet",
    "default_cache_dir",
    "detector_frame",
    "simulate_spots",
]

#: Version of the cached spot lists: 2 since diffsims is given `diffsims_phase`
#: copies (hexagonal intensities changed), so no older cache is reused.
_FORMAT = 2


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
    """

    accelerating_voltage: float = 200.0
    reciprocal_radius: float = 1.5
    max_excitation_error: tuple[float, float] = (0.04, 0.12)
    minimum_intensity: float = 1e-4
    chunk_size: int = 250

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
    """

    peaks: PeakSet
    rotations: np.ndarray
    phase_index: np.ndarray
    excitation_error: np.ndarray
    phases: PhaseList
    settings: SimulationSettings
    seconds: float = field(default=0.0)

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
        except (OSError, ValueError, KeyError, EOFError) as error:
            raise ValueError(
                f"{path} is not a readable simulated spot set ({error}); delete "
                "it to simulate again."
            ) from error
        settings = meta["settings"]
        settings["max_excitation_error"] = tuple(settings["max_excitation_error"])
        phase_objs = [phase_from_dict(d) for d in meta["phases"]]
        return cls(
            peaks=peaks,
            rotations=rotations,
            phase_index=phase_index,
            excitation_error=excitation_error,
            phases=PhaseList(phases=phase_objs, ids=list(range(len(phase_objs)))),
            settings=SimulationSettings(**settings),
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
            "settings": asdict(settings),
            "seed": seed,
        },
        sort_keys=True,
    )
    return hashlib.sha256(description.encode()).hexdigest()[:20]


def _spots_of(simulation, n: int, minimum_intensity: float) -> list[np.ndarray]:
    coordinates = simulation.coordinates
    if n == 1:
        coordinates = [coordinates]
    spots = []
    for c in coordinates:
        xy = np.asarray(c.data)[:, :2]
        intensity = np.asarray(c.intensity, dtype=np.float64)
        if intensity.size:
            keep = intensity > minimum_intensity * intensity.max()
            xy, intensity = xy[keep], intensity[keep]
        kx, ky = detector_frame(xy[:, 0], xy[:, 1])
        spots.append(np.stack([kx, ky, intensity], axis=1))
    return spots


def simulate_spots(
    phases: Phase | Sequence[Phase],
    n_per_phase: int,
    settings: SimulationSettings = SimulationSettings(),
    seed: int = 0,
    cache_dir: str | Path | None = None,
    show_progressbar: bool = True,
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
    generator = SimulationGenerator(accelerating_voltage=settings.accelerating_voltage)
    chunk = int(settings.chunk_size)
    n_chunks = -(-n_per_phase // chunk)
    spots, rotations, phase_index, excitation = [], [], [], []
    with tqdm(
        total=n_per_phase * len(phase_objs),
        disable=not show_progressbar,
        desc="Simulating spots",
        unit="pattern",
    ) as bar:
        for index, phase in enumerate(phase_objs):
            symmetry = phase.point_group.proper_subgroup
            for_diffsims = diffsims_phase(phase)
            sampled = random_rotations(n_per_phase, rng)
            fz = Orientation(sampled.data, symmetry=symmetry)
            fz = fz.reduce()
            for k in range(n_chunks):
                part = fz[k * chunk : (k + 1) * chunk]
                error = float(rng.uniform(*settings.max_excitation_error))
                simulation = generator.calculate_diffraction2d(
                    for_diffsims,
                    rotation=part,
                    reciprocal_radius=settings.reciprocal_radius,
                    max_excitation_error=error,
                    with_direct_beam=False,
                )
                spots += _spots_of(simulation, part.size, settings.minimum_intensity)
                rotations.append(part.data)
                phase_index.append(np.full(part.size, index))
                excitation.append(np.full(part.size, error, np.float32))
                bar.update(part.size)
    result = SpotSet(
        peaks=PeakSet.from_lists(spots),
        rotations=np.concatenate(rotations),
        phase_index=np.concatenate(phase_index),
        excitation_error=np.concatenate(excitation),
        phases=phase_list,
        settings=settings,
        seconds=time.perf_counter() - start,
    )
    if path is not None:
        result.save(path)
    return result
