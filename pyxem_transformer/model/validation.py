"""The figures a training run is judged by, and its confidence calibration."""

import math

import numpy as np
import torch

from pyxem_transformer.model.network import OrientationTransformer
from pyxem_transformer.model.rotations import symmetric_angle

__all__ = ["validation_figures"]


def _losses(model, tokens, mask, truth, phase, friedel):
    logits, matrices, conf_logit = model(tokens, mask)
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    predicted = matrices[rows, phase]
    right = model.twin if friedel else model.twin[:1]
    angle = symmetric_angle(predicted, truth, model.symmetry[phase], right)
    right_phase = logits.argmax(-1) == phase
    within = (angle.detach() < math.radians(5)) & right_phase
    return logits, angle, conf_logit, within


@torch.no_grad()
def validation_figures(
    model: OrientationTransformer,
    tokens: torch.Tensor,
    mask: torch.Tensor,
    truth: torch.Tensor,
    phase: torch.Tensor,
    friedel: bool = True,
    batch_size: int = 4096,
) -> dict:
    """Median misorientation (degrees), fractions under 2 and 5, phase accuracy.

    Wrong-phase patterns rank as failures, as in
    :func:`pyxem_transformer.evaluation.metrics.summarize`.

    Parameters
    ----------
    model
        The model.
    tokens, mask
        Validation tokens ``(n, N, 4)`` and mask ``(n, N)``.
    truth
        True rotation matrices ``(n, 3, 3)``.
    phase
        True phase indices ``(n,)``.
    friedel
        Count the 180° about-the-beam twin as right.
    batch_size
        Patterns per forward pass.

    Returns
    -------
    figures
        The figures, plus ``_confidence_logits`` and ``_within`` arrays used to
        calibrate the confidence.
    """
    model.eval()
    dev = next(model.parameters()).device
    angles, right, logits_all, within_all = [], [], [], []
    for s in range(0, tokens.shape[0], batch_size):
        sl = slice(s, s + batch_size)
        logits, angle, conf_logit, within = _losses(
            model,
            tokens[sl].to(dev),
            mask[sl].to(dev),
            truth[sl].to(dev),
            phase[sl].to(dev),
            friedel,
        )
        angles.append(angle.cpu())
        right.append((logits.argmax(-1) == phase[sl].to(dev)).cpu())
        logits_all.append(conf_logit.cpu())
        within_all.append(within.cpu())
    angle = torch.rad2deg(torch.cat(angles)).numpy()
    right = torch.cat(right).numpy()
    ranked = np.where(right, angle, np.inf)
    return {
        "median_misorientation": float(np.median(ranked)),
        "fraction_under_2": float(np.mean(ranked < 2)),
        "fraction_under_5": float(np.mean(ranked < 5)),
        "phase_accuracy": float(np.mean(right)),
        "n_patterns": int(angle.size),
        "_confidence_logits": torch.cat(logits_all),
        "_within": torch.cat(within_all).float(),
    }


def _fit_calibration(logits: torch.Tensor, within: torch.Tensor) -> tuple[float, float]:
    """Platt scaling of the confidence logit on validation data."""
    params = torch.tensor([1.0, 0.0], requires_grad=True)
    optimiser = torch.optim.LBFGS([params], max_iter=100)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def closure():
        optimiser.zero_grad()
        loss = loss_fn(params[0] * logits + params[1], within)
        loss.backward()
        return loss

    optimiser.step(closure)
    a, b = params.detach().tolist()
    return (a, b) if math.isfinite(a) and math.isfinite(b) else (1.0, 0.0)
