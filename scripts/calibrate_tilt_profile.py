"""Measure the tilt search's profile on a model's Bloch-wave training spots.

The dynamical tilt search (:mod:`pyxem_transformer.mapping.tilt`) scores a
tilt by how likely each reflection it puts in the field is to be seen, and
how bright, given its excitation error. This script measures both on the
Bloch-wave patterns of a training cache (written by ``train_model`` with a
``dynamical`` fraction), counted as a detector would at doses log-uniform in
``1,000-30,000`` electrons per pattern (the training augmentation's range),
a reflection seen from one to four electrons (drawn per pattern), and writes
``pyxem_transformer/mapping/tilt_profile.json``: for each detection bin and
``|g|`` bin (``G_EDGES``), at excitation errors ``0, STEP, ...``, the
fraction seen and the mean and spread of the natural log of the seen ones'
intensity relative to the pattern's strongest peak (the direct beam as a
rule, as the search takes it).

A pattern's detection bin is set by its weakest seen reflection relative to
the strongest peak, which a measured pattern shows too (its weakest token): it
is what dose and detector together leave visible. The bins hold equal
numbers of patterns (``DETECTION_BINS``).

Usage (the cache of the shipped ``cu`` model's fine-tuning)::

    python scripts/calibrate_tilt_profile.py \\
        ~/.cache/pyxem-transformer/spots-ac01d7ca17886c7e4c72.npz
"""

import argparse
import json
from pathlib import Path

import numpy as np
from orix.quaternion import Rotation

from pyxem_transformer.crystal.phase_io import phase_from_dict
from pyxem_transformer.crystal.reciprocal import reciprocal_lattice, wavelength

STEP = 0.005
KNOTS = 20  # |s| = 0 ... 0.095 (the training sets' Bloch beams reach 0.1)
DOSE_RANGE = (1000, 30000)
#: Bins of the weakest seen reflection (equal numbers of patterns).
DETECTION_BINS = 5
#: |g| bins (1/Å): higher orders are weaker at the same excitation error.
G_EDGES = (0.0, 0.6, 1.0, 99.0)
FIELD = 1.15  # 1/Å: half width of the detector square the counts are taken on
OUT = Path(__file__).parents[1] / "pyxem_transformer" / "mapping" / "tilt_profile.json"
#: Seen fractions are kept within ``(SEEN_FLOOR, 1 - SEEN_FLOOR)``: a spot
#: can always be missed, or a stray peak sit where a reflection should be.
SEEN_FLOOR = 0.05


def _pattern(points, matrix, spots, half, rng):
    """Excitation errors, relative counts (0: not seen), weakest seen
    relative count (NaN: none) and ``|g|`` of one pattern's reflections."""
    kx, ky, intensity = spots
    v = points @ matrix
    s = np.abs((v[:, 0] ** 2 + v[:, 1] ** 2) * half - v[:, 2])
    inside = (np.abs(v[:, :2]) < FIELD).all(1) & (s < STEP * (KNOTS - 0.5))
    in_field = (np.abs(v[:, :2]) < FIELD).all(1)
    dose = np.exp(rng.uniform(*np.log(DOSE_RANGE)))
    needed = rng.uniform(1.0, 4.0)
    # Bloch-wave spot lists hold the diffracted beams, as fractions of the
    # incident one; the direct beam has the rest.
    direct = rng.poisson(dose * max(1.0 - intensity.sum(), 0.05))
    counts = np.zeros(len(points))
    if kx.size:
        d2 = (-v[:, :1] - kx) ** 2 + (v[:, 1:2] - ky) ** 2
        nearest = d2.argmin(1)
        hit = d2[np.arange(len(points)), nearest] < 1e-4
        counts[hit] = rng.poisson(dose * intensity[nearest[hit]])
    strongest = max(direct, counts.max(), 1.0)
    relative = np.where(counts >= needed, counts / strongest, 0.0)
    g = np.linalg.norm(points, axis=1)
    seen = relative[in_field & (relative > 0)]
    weakest = seen.min() if seen.size else np.nan
    return s[inside], relative[inside], weakest, g[inside]


def measure(cache: Path, n_patterns: int, seed: int) -> dict:
    """Seen fraction and log-intensity statistics per detection bin, |g|
    bin and knot, and the detection bins' edges (log relative intensity)."""
    data = np.load(cache)
    meta = json.loads(bytes(data["meta"]).decode())
    phase = phase_from_dict(meta["phases"][0])
    half = wavelength(meta["settings"]["accelerating_voltage"]) / 2
    points = reciprocal_lattice(phase, 1.3 * FIELD * np.sqrt(2))[0].astype(float)
    points = points[np.linalg.norm(points, axis=1) > 0.1]
    rng = np.random.default_rng(seed)
    dynamical = np.flatnonzero(data["physics"] == 1)
    chosen = rng.choice(dynamical, min(n_patterns, dynamical.size), replace=False)
    matrices = Rotation(data["rotations"][chosen]).to_matrix()
    offsets = data["offsets"]
    rows, per_pattern = [], []
    for matrix, i in zip(matrices, chosen, strict=True):
        a, b = offsets[i], offsets[i + 1]
        spots = (data["kx"][a:b], data["ky"][a:b], data["intensity"][a:b])
        s, relative, weakest, g = _pattern(points, matrix, spots, half, rng)
        if np.isfinite(weakest):  # a pattern without peaks is never searched
            rows.append(np.stack([s, relative, np.full(s.size, weakest), g], 1))
            per_pattern.append(weakest)
    s, relative, weakest, g = np.concatenate(rows).T
    knot = np.clip(np.rint(s / STEP).astype(int), 0, KNOTS - 1)
    quantiles = np.arange(1, DETECTION_BINS) / DETECTION_BINS
    edges = np.quantile(np.log(per_pattern), quantiles)
    bins = np.searchsorted(edges, np.log(weakest))
    orders = np.searchsorted(G_EDGES, g) - 1
    shape = (DETECTION_BINS, len(G_EDGES) - 1, KNOTS)
    seen, mean, spread = np.zeros(shape), np.zeros(shape), np.ones(shape)
    for d, o, k in np.ndindex(shape):
        here = relative[(bins == d) & (orders == o) & (knot == k)]
        logs = np.log(here[here > 0])
        seen[d, o, k] = (here > 0).mean() if here.size else 0.0
        # Too few seen to measure: the overall mean stands in (see below).
        mean[d, o, k] = logs.mean() if logs.size >= 5 else np.nan
        spread[d, o, k] = max(logs.std(), 0.3) if logs.size >= 5 else np.nan
    for a in (mean, spread):  # fill gaps from the next lower |s| knot
        for k in range(1, KNOTS):
            gap = np.isnan(a[..., k])
            a[..., k][gap] = a[..., k - 1][gap]
        a[np.isnan(a)] = np.nanmean(a)
    return {"seen": seen, "mean": mean, "spread": spread, "n": s.size, "edges": edges}


def write_profile(profile: dict, cache: Path, n_patterns: int, seed: int) -> None:
    """Write the profile as JSON next to the search (atomically)."""
    document = {
        "source": (
            f"scripts/calibrate_tilt_profile.py: {n_patterns} Bloch-wave training "
            f"patterns of cache {cache.name}, seed {seed}, {profile['n']} "
            "reflections in the field"
        ),
        "step": STEP,
        "detection_edges": np.round(profile["edges"], 4).tolist(),
        "g_edges": list(G_EDGES),
        "seen_floor": SEEN_FLOOR,
        **{
            key: np.round(profile[key], 4).tolist()
            for key in ("seen", "mean", "spread")
        },
    }
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1))
    tmp.replace(OUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path, help="a training spot cache (.npz)")
    parser.add_argument("--patterns", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    profile = measure(args.cache, args.patterns, args.seed)
    write_profile(profile, args.cache, args.patterns, args.seed)
    print(f"wrote {OUT} ({profile['n']} reflections)")


if __name__ == "__main__":
    main()
