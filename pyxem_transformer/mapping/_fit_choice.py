"""Which fit of the network's answer to keep: its Friedel twin, tilted
restarts, and fits that expect a reflection with no peak.

:func:`~pyxem_transformer.mapping.predict.predict_tokens` calls
``_refine_best`` on the best candidate of every batch.
"""

import numpy as np
import torch

from pyxem_transformer.crystal.reciprocal import reciprocal_lattice, wavelength
from pyxem_transformer.mapping.missing import missing_reflections
from pyxem_transformer.mapping.prior import pattern_prior_sigma, prior_sigma
from pyxem_transformer.mapping.refine import Refinement, _rodrigues, refine_rotations
from pyxem_transformer.mapping.tilt import score_rotations, search_tilt
from pyxem_transformer.model.network import OrientationTransformer

#: Pairing radii (1/Å) of the fit from the network's start: it starts within
#: a few degrees (docs/models.md), so four iterations from 0.06 1/Å do what
#: seven from 0.12 did for the earlier, less accurate networks.
FIT_RADII = (0.06, 0.04, 0.03, 0.03)

#: Lattice points per pattern the fit and its polish consider (those nearest
#: the sphere at the start): 128 gave the same accuracy as 256 on the
#: benchmark's cu, ti and cu_cu2o samples in hand-run checks, with fewer
#: distances to compute; 64 lost Friedel twins on cu_cu2o-free.
FIT_CANDIDATES = 128

#: Refinements that pair less than this fraction of the tokens' weight
#: restart from tilted starts (see ``_refine_best``).
RESTART_BELOW = 0.7

#: Weight of the squared residual (in units of the best candidate's) in the
#: restart choice; 0.02 was best on Ti, noise-free and at 3000 e/pattern.
RESTART_PENALTY = 0.02

#: Pairing radii (1/Å) of the short fits that rank the restarts.
RESTART_RADII = (0.12, 0.08, 0.05, 0.03)

#: Restarts of the dynamical search (``_search_dynamical``): four starts
#: tilted by 10° about the beam-frame x and y axes, fitted in two
#: iterations. On ``cu-dyn-300`` (seeds 0, 1, 3, 4, hand-run) they gained as
#: much as the eight starts and four iterations of ``_tilted_fits``, at
#: about half the cost.
DYNAMICAL_STARTS = (0, 1, 4, 5)
DYNAMICAL_RADII = (0.12, 0.06)


#: RMS fit residual (1/Å) under which peaks hold the tilt on their own (about
#: a quarter pixel at 0.02 1/Å per pixel): such fits are polished without the
#: prior before the Friedel twin is chosen.
PRECISE_RMS = 0.005

#: Pairing radii (1/Å) of that polish.
POLISH_RADII = (0.03, 0.03)

#: Precise fits that expect a reflection without a peak at this fraction of
#: their strongest expected reflection (``missing.missing_reflections``) or
#: more try their Friedel twin and tilted starts (see ``_refine_best``). On
#: the benchmark's noise-free Cu + Cu2O sample (seed 0, hand-run check)
#: every pixel more than 2° off had such a reflection at 0.83 of the
#: strongest, the right fits none above 0.02.
MISSING_ABOVE = 0.3

#: A candidate replaces such a fit only if it pairs about as much of the
#: tokens' weight (at most this much less; the twin pairs the same) and
#: expects a missing reflection at most ``MISSING_GAIN`` times as strong.
MISSING_PAIRED_SLACK = 0.05

MISSING_GAIN = 0.5

#: ``Rz(180°)``: a zero-order pattern's rotation ``R`` and ``R @ FRIEDEL_TWIN``
#: give the same spot positions.
FRIEDEL_TWIN = torch.diag(torch.tensor([-1.0, -1.0, 1.0]))


def _lattices(model: OrientationTransformer, device: torch.device) -> list:
    """Reciprocal lattice points (on ``device``) and strengths (numpy) of
    each phase, computed once per model."""
    cache = getattr(model, "_lattice_cache", None)
    if cache is None or cache[0] != device:
        radius = model.token_settings.max_radius + 0.1
        lattices = [reciprocal_lattice(p, radius) for p in model.phases]
        points = [(torch.as_tensor(g, device=device), f) for g, f in lattices]
        cache = (device, points)
        model._lattice_cache = cache
    return cache[1]


def _perturbations(angle: float = 10.0) -> torch.Tensor:
    """Tilts by ``angle`` degrees about four in-plane axes, both ways."""
    axes = torch.tensor(
        [[1.0, 0, 0], [0, 1.0, 0], [0.7071, 0.7071, 0], [0.7071, -0.7071, 0]]
    )
    deltas = torch.cat([axes, -axes]) * np.deg2rad(angle)
    return _rodrigues(deltas)


def _refine_with_twin(start, tokens, mask, lattice, lam, prior_sigma=None):
    """Refine ``R`` and ``R * Rz(180°)``; keep the one closer to the sphere.

    Their spot positions fit equally well, but the Ewald sphere's curvature
    excites different reflections, so the one whose paired lattice points
    lie closer to the sphere (smaller RMS excitation error) is kept.

    With ``prior_sigma`` (``(B,)``, one width per pattern), the start is a
    prior of the fit
    (:func:`~pyxem_transformer.mapping.refine.refine_rotations`). Where the peaks are
    then fitted to better than ``PRECISE_RMS``, they fix the tilt on their
    own, and the prior would blur the twin choice: both candidates are
    polished without it (``POLISH_RADII``) before the choice.
    """
    n = start.shape[0]
    twin = FRIEDEL_TWIN.to(start)
    tokens2, mask2 = tokens.repeat(2, 1, 1), mask.repeat(2, 1)
    if prior_sigma is not None:
        prior_sigma = prior_sigma.repeat(2)  # each pattern's width, both twins
    both = refine_rotations(
        torch.cat([start, start @ twin]),
        tokens2,
        mask2,
        lattice,
        lam,
        radii=FIT_RADII,
        candidates=FIT_CANDIDATES,
        prior_sigma=prior_sigma,
    )
    if prior_sigma is not None:
        precise = (both.rms[:n] < PRECISE_RMS) & (both.rms[n:] < PRECISE_RMS)
        rows = torch.nonzero(torch.cat([precise, precise])).flatten()
        if rows.numel():
            polished = refine_rotations(
                both.matrices[rows],
                tokens2[rows],
                mask2[rows],
                lattice,
                lam,
                radii=POLISH_RADII,
                candidates=FIT_CANDIDATES,
            )
            for full, part in zip(both, polished, strict=True):
                full[rows] = part
    pick = both.excitation_rms[n:] < both.excitation_rms[:n]

    def choose(a):
        shape = (-1,) + (1,) * (a.ndim - 1)
        return torch.where(pick.view(shape), a[n:], a[:n])

    return Refinement(*(choose(a) for a in both))


def _tilted_fits(
    start, tokens, mask, lattice, lam, tilts=None, radii=RESTART_RADII
) -> Refinement:
    """Short fits from ``start`` tilted by ``tilts`` (``_perturbations`` if
    None), with pairing ``radii``: ``(B, k, ...)``."""
    tilts = (_perturbations() if tilts is None else tilts).to(start)
    k, n = tilts.shape[0], start.shape[0]
    starts = (start[:, None] @ tilts[None]).reshape(-1, 3, 3)
    # A short fit is enough to rank the starts; the winner is then settled
    # in full.
    again = refine_rotations(
        starts,
        tokens.repeat_interleave(k, 0),
        mask.repeat_interleave(k, 0),
        lattice,
        lam,
        radii=radii,
        candidates=FIT_CANDIDATES,
    )
    return Refinement(*(a.view(n, k, *a.shape[1:]) for a in again))


def _refine_best(
    model,
    matrices,
    phase,
    tokens,
    mask,
    restarts=False,
    field=None,
    confidence=None,
    beam=None,
):
    """Refine each pattern's best rotation (and pick it or its Friedel twin).

    The network's rotation is the fit's prior: of width :func:`prior_sigma`,
    or with the network's ``confidence`` (``(B,)``, calibrated) one width per
    pattern (:func:`pattern_prior_sigma`). Two
    kinds of fit then restart from eight starts tilted by 10°:

    - with ``restarts``, where the fit stays poor (less than
      ``RESTART_BELOW`` of the tokens' weight paired): the network was too
      far off for the fit to converge. The candidate with the best fit score
      (paired weight, penalised for residuals above the best candidate's)
      is kept, and its Friedel twin settled as for the first fit.
    - always, where a precise fit (``PRECISE_RMS``) expects a reflection
      without a peak at ``MISSING_ABOVE`` of its strongest or more
      (:func:`~pyxem_transformer.mapping.missing.missing_reflections`, on the
      detector ``field``): its spots cover the peaks, but at a tilt that
      puts another strong reflection on the sphere. A candidate that pairs
      about as well (``MISSING_PAIRED_SLACK``) and expects at most
      ``MISSING_GAIN`` of that missing reflection replaces it: the fit's
      Friedel twin if it qualifies, else the qualifying restart or restart
      twin closest to the fit. Where none qualifies the fit stays.

    With ``beam`` (``(B,)``, :func:`~pyxem_transformer.mapping.tilt.beam_ratio`),
    the patterns are dynamical: each fit is then tilted to the posterior
    mean of its pattern's tilt, and restarted where another fit explains
    the pattern better (``_search_dynamical``).

    Each pattern is decided alone, so results do not depend on how patterns
    are batched.
    """
    voltage = model.training_info.get("simulation", {}).get("accelerating_voltage", 200)
    lam = wavelength(voltage)
    ts = model.token_settings
    radius_range = (ts.direct_beam_radius, ts.max_radius)
    refined = matrices.clone()
    if confidence is None:
        sigma = prior_sigma(model)
    else:
        sigma = pattern_prior_sigma(model, confidence)
    if sigma is not None:  # one width per pattern, however it was set
        sigma = torch.as_tensor(sigma, device=matrices.device).expand(len(matrices))
    for index, (lattice, strength) in enumerate(_lattices(model, matrices.device)):
        here = torch.nonzero(phase == index).flatten()
        if here.numel() == 0:
            continue
        start = matrices[here].float()
        t, m = tokens[here].float(), mask[here]
        width = None if sigma is None else sigma[here]
        fit = _refine_with_twin(start, t, m, lattice, lam, prior_sigma=width)
        best = fit.matrices
        threshold = RESTART_BELOW if restarts else 0.0
        poor = torch.nonzero(fit.paired < threshold).flatten()
        if poor.numel():
            again = _tilted_fits(start[poor], t[poor], m[poor], lattice, lam)
            rms = torch.cat([fit.rms[poor][:, None], again.rms], 1)
            paired = torch.cat([fit.paired[poor][:, None], again.paired], 1)
            noise = rms.min(1, keepdim=True).values.clamp_min(0.002)
            score = paired - RESTART_PENALTY * (rms / noise) ** 2
            choice = score.argmax(1)
            moved = torch.nonzero(choice > 0).flatten()
            if moved.numel():
                # A new candidate: settle its Friedel twin as above.
                chosen = again.matrices[moved, choice[moved] - 1]
                settled = _refine_with_twin(
                    chosen, t[poor][moved], m[poor][moved], lattice, lam
                )  # no prior: the restart left the network's answer
                best[poor[moved]] = settled.matrices
                fit.paired[poor[moved]] = settled.paired
                fit.rms[poor[moved]] = settled.rms

        _restart_missing(
            best, fit.paired, fit.rms, t, m, lattice, strength, lam, radius_range, field
        )
        if beam is not None:
            rows = here.cpu().numpy()
            best = _search_dynamical(
                best, t, m, lattice, lam, beam[rows], radius_range, field
            )
        refined[here] = best.to(refined.dtype)
    return refined


def _search_dynamical(best, tokens, mask, lattice, lam, beam, radius_range, field):
    """Tilt each fit to the posterior mean of its dynamical pattern's tilt
    (:func:`~pyxem_transformer.mapping.tilt.search_tilt`), then restart it.

    The search keeps the fit's pairing of peaks and reflections. Where the
    network started several degrees off, in a sparse pattern the fit can
    pair them wrongly and still cover the peaks, and no tilt nearby
    explains the pattern. Fits from four starts tilted by 10° about the
    searched rotation (``DYNAMICAL_STARTS``) are scored with it
    (:func:`~pyxem_transformer.mapping.tilt.score_rotations`, each with its
    own pairing); where one scores higher, it is searched in turn and kept
    if it still scores higher than the first.
    """
    dynamical = (tokens, mask, lattice, lam)
    searched = search_tilt(best, *dynamical, beam, radius_range, field)
    tilts = _perturbations()[list(DYNAMICAL_STARTS)]
    again = _tilted_fits(searched, *dynamical, tilts, DYNAMICAL_RADII)
    candidates = torch.cat([searched[:, None], again.matrices.to(searched)], 1)
    scores = score_rotations(candidates, *dynamical, beam, radius_range, field)
    choice = scores.argmax(1)
    rows = np.flatnonzero(choice > 0)
    if rows.size == 0:
        return searched
    device = searched.device
    r = torch.as_tensor(rows, device=device)
    winners = candidates[r, torch.as_tensor(choice[rows], device=device)]
    subset = (tokens[r], mask[r], lattice, lam, beam[rows], radius_range, field)
    moved = search_tilt(winners, *subset)
    better = score_rotations(moved[:, None], *subset)[:, 0] > scores[rows, 0]
    keep = torch.as_tensor(better, device=device)
    searched[r[keep]] = moved[keep]
    return searched


def _restart_missing(
    best, paired, rms, tokens, mask, lattice, strength, lam, radius_range, field
) -> None:
    """Restart precise fits that expect a missing reflection (in place).

    See ``_refine_best``; ``best``, ``paired`` and ``rms`` are the fits'.
    Only precise fits (``PRECISE_RMS``) are checked: on noisy peaks weak
    reflections go unfound as a rule, and restarts there cost more than
    they gain.
    """

    def missing(rotations, rows, repeat=1):
        return missing_reflections(
            rotations,
            tokens[rows].repeat_interleave(repeat, 0),
            mask[rows].repeat_interleave(repeat, 0),
            lattice,
            strength,
            lam,
            radius_range,
            field,
        )

    precise = torch.nonzero(rms < PRECISE_RMS).flatten()
    expected = missing(best[precise], precise)
    odd = precise[expected >= MISSING_ABOVE]
    expected = expected[expected >= MISSING_ABOVE]
    if odd.numel() == 0:
        return
    # First candidate: the fit's Friedel twin (the same spot positions,
    # other reflections excited), the least change there is. Then, where it
    # is no better, fits from tilted starts and their twins.
    twin = FRIEDEL_TWIN.to(best)
    flipped = best[odd] @ twin
    chosen = flipped.clone()
    clean = missing(flipped, odd) <= MISSING_GAIN * expected
    rest = torch.nonzero(~clean).flatten()
    if rest.numel():
        rows = odd[rest]
        again = _tilted_fits(best[rows], tokens[rows], mask[rows], lattice, lam)
        candidates = torch.cat([again.matrices, again.matrices @ twin], 1)
        k = candidates.shape[1]
        worse = missing(candidates.reshape(-1, 3, 3), rows, k).view(-1, k)
        fits = (again.paired >= paired[rows][:, None] - MISSING_PAIRED_SLACK).repeat(
            1, 2
        )
        ok = fits & (worse <= MISSING_GAIN * expected[rest][:, None])
        closest, choice = _closest(best[rows], candidates, ok, twin)
        found = torch.isfinite(closest)
        chosen[rest[found]] = candidates[found, choice[found]]
        clean[rest] = found
    moved = torch.nonzero(clean).flatten()
    if moved.numel():
        rows = odd[moved]
        # Settled as chosen: the missing reflections chose the twin too.
        settled = refine_rotations(
            chosen[moved],
            tokens[rows],
            mask[rows],
            lattice,
            lam,
            radii=FIT_RADII,
            candidates=FIT_CANDIDATES,
        )  # no prior: the restart left the network's answer
        best[rows] = settled.matrices


def _closest(fits, candidates, ok, twin):
    """Of the ``ok`` candidates, the one closest to each fit (its Friedel
    twin counting as the fit): the least change the peaks and the missing
    reflection call for. Returns its cosine measure (-inf: none) and index."""
    turn = fits[:, None].transpose(-1, -2) @ candidates
    cosine = torch.maximum(
        turn.diagonal(dim1=-2, dim2=-1).sum(-1),
        (turn @ twin).diagonal(dim1=-2, dim2=-1).sum(-1),
    )
    cosine = torch.where(ok, cosine, torch.full_like(cosine, -np.inf))
    return cosine.max(1)
