"""Batched model inference on tokens (no hyperspy): rotations, phases, scores."""

from dataclasses import dataclass

import numpy as np
import torch

from pyxem_transformer.mapping._fit_choice import _refine_best
from pyxem_transformer.model.device import resolve_device
from pyxem_transformer.model.network import OrientationTransformer
from pyxem_transformer.model.rotations import matrix_to_quaternion

__all__ = ["Prediction", "predict_tokens"]

#: Patterns with fewer tokens than this are flagged (``too_few_tokens``).
MIN_TOKENS = 3
#: Token widths the network and fit run at are multiples of this: a pattern
#: with 11 peaks is read at width 12, not at the model's full ``n_tokens``
#: (the padding costs as much as peaks; see ``_batches_by_width``). 4 ran the
#: cu model's network about 10% faster than 8 on the benchmark's noise-free
#: Cu tokens (hand-run check, 4,096 patterns; 2 was no faster than 4).
WIDTH_STEP = 4
#: Phase index of patterns that could not be indexed (as orix's phase id -1).
NOT_INDEXED = -1


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


def _check_arguments(model, tokens, mask, n_best, refine, beam) -> None:
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
    n = tokens.shape[0]
    if not (refine is True or refine is False or refine == "dynamical"):
        raise ValueError(
            f"`refine` must be True, False or 'dynamical' (thick samples, "
            f"nanobeam), got {refine!r}."
        )
    if refine == "dynamical" and (beam is None or np.shape(beam) != (n,)):
        raise ValueError(
            "refine='dynamical' needs `beam`, the direct beam's intensity over "
            f"the strongest token's for each of the {n} patterns "
            "(pyxem_transformer.mapping.tilt.beam_ratio)."
        )


@torch.inference_mode()
def predict_tokens(
    model: OrientationTransformer,
    tokens: np.ndarray,
    mask: np.ndarray,
    n_best: int = 1,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    refine: bool | str = True,
    restarts: bool = False,
    field: tuple[float, float, float, float] | None = None,
    beam: np.ndarray | None = None,
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
        :mod:`pyxem_transformer.mapping.refine`): on precise peaks the fit is exact
        where the network is about a degree off, and it picks the Friedel
        twin, which the network cannot tell apart. A precise fit that
        expects a strong reflection where the pattern has no peak is
        restarted from tilted starts (see ``_refine_best`` and ``field``).
        ``"dynamical"``: the same, then each fit is tilted to the posterior
        mean of its dynamical pattern's tilt and restarted where another
        fit explains the pattern better (:mod:`pyxem_transformer.mapping.tilt`;
        for nanobeam patterns of samples 100-1,000 Å thick, not for thin
        samples or precession). Needs ``beam``.
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
    beam
        ``(n,)`` direct beam's intensity over the strongest token's
        (:func:`pyxem_transformer.mapping.tilt.beam_ratio`), for
        ``refine="dynamical"``.

    Returns
    -------
    prediction
        A :class:`Prediction`.
    """
    _check_arguments(model, tokens, mask, n_best, refine, beam)
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
        score = probs[rows, order]
        score[:, 0] = _calibrated(conf_logit, model)
        if refine:
            chosen[:, 0] = _refine_best(
                model,
                chosen[:, 0],
                order[:, 0],
                t,
                m,
                restarts,
                field,
                score[:, 0],
                None if refine is True else np.asarray(beam)[batch],
            )
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
