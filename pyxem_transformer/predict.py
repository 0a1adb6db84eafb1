"""Batched model inference on tokens (no hyperspy): rotations, phases, scores."""

from dataclasses import dataclass

import numpy as np
import torch

from .model import OrientationTransformer
from .refine import (
    Refinement,
    _rodrigues,
    missing_reflections,
    reciprocal_lattice,
    refine_rotations,
    wavelength,
)
from .rotations import matrix_to_quaternion

__all__ = ["Prediction", "predict_tokens", "prior_sigma", "resolve_device"]

#: Patterns with fewer tokens than this are flagged (``too_few_tokens``).
MIN_TOKENS = 3
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
#: Median / sigma of the angle of a rotation error that is Gaussian with
#: standard deviation sigma about each axis (the Maxwell distribution): turns
#: a network's validation median into the spread of its prior in the fit.
MEDIAN_PER_SIGMA = 1.538
#: RMS fit residual (1/Å) under which peaks hold the tilt on their own (about
#: a quarter pixel at 0.02 1/Å per pixel): such fits are polished without the
#: prior before the Friedel twin is chosen.
PRECISE_RMS = 0.005
#: Pairing radii (1/Å) of that polish.
POLISH_RADII = (0.03, 0.03)
#: Precise fits that expect a reflection without a peak at this fraction of
#: their strongest expected reflection (``refine.missing_reflections``) or
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
#: Token widths the network and fit run at are multiples of this: a pattern
#: with 11 peaks is read at width 12, not at the model's full ``n_tokens``
#: (the padding costs as much as peaks; see ``_batches_by_width``). 4 ran the
#: cu model's network about 10% faster than 8 on the benchmark's noise-free
#: Cu tokens (hand-run check, 4,096 patterns; 2 was no faster than 4).
WIDTH_STEP = 4
#: Phase index of patterns that could not be indexed (as orix's phase id -1).
NOT_INDEXED = -1


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Parameters
    ----------
    device
        The requested device.

    Returns
    -------
    device
        CUDA for ``"auto"`` when available, else the CPU.

    Raises
    ------
    ValueError
        If CUDA is requested but not available.
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but torch sees no CUDA GPU; use "
            "device='cpu' or 'auto'."
        )
    return device


@dataclass
class Prediction:
    """Model output for ``n`` patterns, best candidate first.

    Attributes
    ----------
    quaternions
        ``(n, k, 4)`` rotations (diffsims/orix convention), ``k`` candidates.
    phase_index
        ``(n, k)`` phase indices.
    confidence
        ``(n, k)``: for the best candidate the calibrated probability that it
        is within 5 degrees with the right phase; for runners-up their phase
        probability. 0 where ``too_few_tokens``.
    n_tokens
        ``(n,)`` number of tokens each pattern had.
    too_few_tokens
        ``(n,)`` True where fewer than ``MIN_TOKENS`` tokens were found.
    """

    quaternions: np.ndarray
    phase_index: np.ndarray
    confidence: np.ndarray
    n_tokens: np.ndarray
    too_few_tokens: np.ndarray


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

    With ``prior_sigma``, the start is a prior of the fit
    (:func:`~pyxem_transformer.refine.refine_rotations`). Where the peaks are
    then fitted to better than ``PRECISE_RMS``, they fix the tilt on their
    own, and the prior would blur the twin choice: both candidates are
    polished without it (``POLISH_RADII``) before the choice.
    """
    n = start.shape[0]
    twin = FRIEDEL_TWIN.to(start)
    tokens2, mask2 = tokens.repeat(2, 1, 1), mask.repeat(2, 1)
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


def prior_sigma(model: OrientationTransformer) -> float | None:
    """Return the spread (radians) of the network's rotations as a fit prior.

    From the model's validation median misorientation
    (``training_info["validation"]``) over ``MEDIAN_PER_SIGMA``; None for a
    model without validation figures (then the fit has no prior).

    Parameters
    ----------
    model
        A trained model.

    Returns
    -------
    sigma
        Standard deviation about each axis, in radians, or None.
    """
    median = model.training_info.get("validation", {}).get("median_misorientation")
    if median is None or not np.isfinite(median) or median <= 0:
        return None
    return float(np.deg2rad(median / MEDIAN_PER_SIGMA))


def _tilted_fits(start, tokens, mask, lattice, lam) -> Refinement:
    """Short fits from ``start`` tilted by ``_perturbations``: ``(B, k, ...)``."""
    tilts = _perturbations().to(start)
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
        radii=RESTART_RADII,
        candidates=FIT_CANDIDATES,
    )
    return Refinement(*(a.view(n, k, *a.shape[1:]) for a in again))


def _refine_best(model, matrices, phase, tokens, mask, restarts=False, field=None):
    """Refine each pattern's best rotation (and pick it or its Friedel twin).

    The network's rotation is the fit's prior (:func:`prior_sigma`). Two
    kinds of fit then restart from eight starts tilted by 10°:

    - with ``restarts``, where the fit stays poor (less than
      ``RESTART_BELOW`` of the tokens' weight paired): the network was too
      far off for the fit to converge. The candidate with the best fit score
      (paired weight, penalised for residuals above the best candidate's)
      is kept, and its Friedel twin settled as for the first fit.
    - always, where a precise fit (``PRECISE_RMS``) expects a reflection
      without a peak at ``MISSING_ABOVE`` of its strongest or more
      (:func:`~pyxem_transformer.refine.missing_reflections`, on the
      detector ``field``): its spots cover the peaks, but at a tilt that
      puts another strong reflection on the sphere. A candidate that pairs
      about as well (``MISSING_PAIRED_SLACK``) and expects at most
      ``MISSING_GAIN`` of that missing reflection replaces it: the fit's
      Friedel twin if it qualifies, else the qualifying restart or restart
      twin closest to the fit. Where none qualifies the fit stays.

    Each pattern is decided alone, so results do not depend on how patterns
    are batched.
    """
    voltage = model.training_info.get("simulation", {}).get("accelerating_voltage", 200)
    lam = wavelength(voltage)
    ts = model.token_settings
    radius_range = (ts.direct_beam_radius, ts.max_radius)
    refined = matrices.clone()
    sigma = prior_sigma(model)
    for index, (lattice, strength) in enumerate(_lattices(model, matrices.device)):
        here = torch.nonzero(phase == index).flatten()
        if here.numel() == 0:
            continue
        start = matrices[here].float()
        t, m = tokens[here].float(), mask[here]
        fit = _refine_with_twin(start, t, m, lattice, lam, prior_sigma=sigma)
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
        refined[here] = best.to(refined.dtype)
    return refined


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
        # Of those, the one closest to the fit (its twin counting as the
        # fit): the least change the peaks and the missing reflection call for.
        turn = best[rows][:, None].transpose(-1, -2) @ candidates
        cosine = torch.maximum(
            turn.diagonal(dim1=-2, dim2=-1).sum(-1),
            (turn @ twin).diagonal(dim1=-2, dim2=-1).sum(-1),
        )
        cosine = torch.where(ok, cosine, torch.full_like(cosine, -np.inf))
        closest, choice = cosine.max(1)
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


def _batches_by_width(
    counts: np.ndarray, n_tokens: int, batch_size: int
) -> list[tuple[np.ndarray, int]]:
    """Split patterns into batches of one token width: ``(rows, width)``.

    A pattern's width is its own number of tokens rounded up to a multiple
    of ``WIDTH_STEP`` (tokens are a prefix of each row), so the padding the
    network and the fit skip depends on the pattern alone, never on the
    batch it falls in: results stay independent of chunking. ``counts`` are
    the patterns' token counts, ``n_tokens`` the model's.
    """
    width = np.minimum(
        n_tokens, np.maximum(1, np.ceil(counts / WIDTH_STEP)).astype(int) * WIDTH_STEP
    )
    batches = []
    for w in np.unique(width):
        rows = np.flatnonzero(width == w)
        batches += [
            (rows[i : i + batch_size], int(w)) for i in range(0, rows.size, batch_size)
        ]
    return batches


def _calibrated(logit: torch.Tensor, model: OrientationTransformer) -> torch.Tensor:
    a, b = model.training_info.get("confidence_calibration", (1.0, 0.0))
    return torch.sigmoid(a * logit + b)


@torch.inference_mode()
def predict_tokens(
    model: OrientationTransformer,
    tokens: np.ndarray,
    mask: np.ndarray,
    n_best: int = 1,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    refine: bool = True,
    restarts: bool = False,
    field: tuple[float, float, float, float] | None = None,
) -> Prediction:
    """Run the model on token arrays in batches.

    Parameters
    ----------
    model
        A trained model.
    tokens, mask
        From :func:`pyxem_transformer.tokens.make_tokens` with the model's
        token settings.
    n_best
        Candidates per pattern: the best phase's orientation, then the other
        phases' by decreasing phase probability (at most the number of phases).
    batch_size
        Patterns per forward pass (at most: patterns are batched by token
        width, see ``WIDTH_STEP``).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    refine
        Refine the best candidate's rotation against the tokens (see
        :mod:`pyxem_transformer.refine`): on precise peaks the fit is exact
        where the network is about a degree off, and it picks the Friedel
        twin, which the network cannot tell apart. A precise fit that
        expects a strong reflection where the pattern has no peak is
        restarted from tilted starts (see ``_refine_best`` and ``field``).
    restarts
        Where a refinement pairs few tokens, restart it from tilted starts.
        Off by default: the canonical-frame networks start close enough
        that restarts rarely change the answer, while on noisy data nearly
        every pattern pairs few tokens and restarts there cost about three
        times the fit.
    field
        ``(kx_min, kx_max, ky_min, ky_max)`` in 1/Å: the part of the detector
        where peaks can be found. The refinement checks that no strong
        reflection is expected there without a peak, and restarts fits that
        expect one (see ``_refine_best``). If None, each pattern's tokens'
        reach stands in for it.

    Returns
    -------
    prediction
        A :class:`Prediction`.
    """
    if not 1 <= n_best <= model.n_phases:
        raise ValueError(
            f"`n_best` must be between 1 and the model's number of phases "
            f"({model.n_phases}); the runners-up are the other phases' "
            f"orientations. Got {n_best}."
        )
    expected = int(model.token_settings.n_tokens)
    if (
        tokens.ndim != 3
        or tokens.shape[1] != expected
        or mask.shape != tokens.shape[:2]
    ):
        raise ValueError(
            f"Tokens of shape {tokens.shape} do not match the model's "
            f"{expected} tokens per pattern; make them with the model's "
            "token_settings."
        )
    dev = resolve_device(device)
    model = model.to(dev).eval()
    n = tokens.shape[0]
    quaternions = np.zeros((n, n_best, 4), np.float32)
    phase_index = np.zeros((n, n_best), np.int64)
    confidence = np.zeros((n, n_best), np.float32)
    pin = dev.type == "cuda"
    n_tokens = mask.sum(axis=1)
    for batch, width in _batches_by_width(n_tokens, mask.shape[1], batch_size):
        t = torch.from_numpy(np.ascontiguousarray(tokens[batch, :width]))
        m = torch.from_numpy(np.ascontiguousarray(mask[batch, :width]))
        if pin:
            t, m = t.pin_memory(), m.pin_memory()
        t, m = t.to(dev, non_blocking=pin), m.to(dev, non_blocking=pin)
        # Half precision for the network on a GPU (the refinement below runs
        # in float32 and removes its rounding); the CPU path stays float32.
        with torch.autocast("cuda", dtype=torch.float16, enabled=pin):
            logits, matrices, conf_logit = model(t, m)
        logits, matrices = logits.float(), matrices.float()
        conf_logit = conf_logit.float()
        probs = torch.softmax(logits, dim=-1)
        order = torch.argsort(probs, dim=-1, descending=True)[:, :n_best]
        rows = torch.arange(order.shape[0], device=dev)[:, None]
        chosen = matrices[rows, order]  # (b, n_best, 3, 3)
        if refine:
            chosen[:, 0] = _refine_best(
                model, chosen[:, 0], order[:, 0], t, m, restarts, field
            )
        score = probs[rows, order]
        score[:, 0] = _calibrated(conf_logit, model)
        quaternions[batch] = matrix_to_quaternion(chosen.float().cpu().numpy())
        phase_index[batch] = order.cpu().numpy()
        confidence[batch] = score.float().cpu().numpy()
    too_few = n_tokens < MIN_TOKENS
    # Too few peaks fix no orientation: "not indexed" as in orix (phase -1,
    # identity rotation, confidence 0), never a made-up answer.
    confidence[too_few] = 0.0
    phase_index[too_few] = NOT_INDEXED
    quaternions[too_few] = (1.0, 0.0, 0.0, 0.0)
    return Prediction(quaternions, phase_index, confidence, n_tokens, too_few)
