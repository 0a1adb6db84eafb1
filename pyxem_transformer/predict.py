"""Batched model inference on tokens (no hyperspy): rotations, phases, scores."""

from dataclasses import dataclass

import numpy as np
import torch

from .model import OrientationTransformer
from .refine import reciprocal_lattice_points, refine_rotations, wavelength
from .rotations import matrix_to_quaternion

__all__ = ["Prediction", "predict_tokens", "resolve_device"]

#: Patterns with fewer tokens than this are flagged (``too_few_tokens``).
MIN_TOKENS = 3
#: Phase index of patterns that could not be indexed (as orix's phase id -1).
NOT_INDEXED = -1


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return the torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
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
    """Reciprocal lattice points of each phase, computed once per model."""
    cache = getattr(model, "_lattice_cache", None)
    if cache is None or cache[0] != device:
        radius = model.token_settings.max_radius + 0.1
        points = [
            torch.as_tensor(reciprocal_lattice_points(p, radius), device=device)
            for p in model.phases
        ]
        cache = (device, points)
        model._lattice_cache = cache
    return cache[1]


def _refine_best(model, matrices, phase, tokens, mask):
    """Refine each pattern's best rotation and pick it or its Friedel twin.

    Both ``R`` and ``R * Rz(180°)`` are refined; their spot positions fit
    equally well, but the Ewald sphere's curvature excites different
    reflections, so the one whose paired lattice points lie closer to the
    sphere (smaller RMS excitation error) is kept.
    """
    voltage = model.training_info.get("simulation", {}).get("accelerating_voltage", 200)
    lam = wavelength(voltage)
    refined = matrices.clone()
    twin = model.twin[-1].to(matrices.dtype)
    for index, lattice in enumerate(_lattices(model, matrices.device)):
        here = phase == index
        if not here.any():
            continue
        start = matrices[here].float()
        n = start.shape[0]
        both = refine_rotations(
            torch.cat([start, start @ twin]),
            tokens[here].float().repeat(2, 1, 1),
            mask[here].repeat(2, 1),
            lattice,
            lam,
        )
        pick_twin = both.excitation_rms[n:] < both.excitation_rms[:n]
        refined[here] = torch.where(
            pick_twin[:, None, None], both.matrices[n:], both.matrices[:n]
        )
    return refined


def _calibrated(logit: torch.Tensor, model: OrientationTransformer) -> torch.Tensor:
    a, b = model.training_info.get("confidence_calibration", (1.0, 0.0))
    return torch.sigmoid(a * logit + b)


@torch.inference_mode()
def predict_tokens(
    model: OrientationTransformer,
    tokens: np.ndarray,
    mask: np.ndarray,
    n_best: int = 1,
    batch_size: int = 4096,
    device: str | torch.device = "auto",
    refine: bool = True,
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
        Patterns per forward pass.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    refine
        Refine the best candidate's rotation against the tokens (see
        :mod:`pyxem_transformer.refine`); the network alone is a few degrees
        off, the refinement fixes what the peaks determine.

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
    for start in range(0, n, batch_size):
        t = torch.from_numpy(np.ascontiguousarray(tokens[start : start + batch_size]))
        m = torch.from_numpy(np.ascontiguousarray(mask[start : start + batch_size]))
        if pin:
            t, m = t.pin_memory(), m.pin_memory()
        t, m = t.to(dev, non_blocking=pin), m.to(dev, non_blocking=pin)
        logits, matrices, conf_logit = model(t, m)
        probs = torch.softmax(logits, dim=-1)
        order = torch.argsort(probs, dim=-1, descending=True)[:, :n_best]
        rows = torch.arange(order.shape[0], device=dev)[:, None]
        chosen = matrices[rows, order]  # (b, n_best, 3, 3)
        if refine:
            chosen[:, 0] = _refine_best(model, chosen[:, 0], order[:, 0], t, m)
        score = probs[rows, order]
        score[:, 0] = _calibrated(conf_logit, model)
        sl = slice(start, start + t.shape[0])
        quaternions[sl] = matrix_to_quaternion(chosen.float().cpu().numpy())
        phase_index[sl] = order.cpu().numpy()
        confidence[sl] = score.float().cpu().numpy()
    n_tokens = mask.sum(axis=1)
    too_few = n_tokens < MIN_TOKENS
    # Too few peaks fix no orientation: "not indexed" as in orix (phase -1,
    # identity rotation, confidence 0), never a made-up answer.
    confidence[too_few] = 0.0
    phase_index[too_few] = NOT_INDEXED
    quaternions[too_few] = (1.0, 0.0, 0.0, 0.0)
    return Prediction(quaternions, phase_index, confidence, n_tokens, too_few)
