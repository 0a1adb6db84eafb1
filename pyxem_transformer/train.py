"""Training a model on simulated, augmented tokens for the user's phases."""

import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from orix.crystal_map import Phase
from orix.quaternion import Rotation
from tqdm.auto import tqdm

from ._validation import as_phase_list
from .augment import AugmentationSettings, augment_peaks
from .cif import SymmetryWarning, detect_space_group
from .model import ModelConfig, OrientationTransformer
from .predict import resolve_device
from .rotations import symmetric_angle
from .simulation import SimulationSettings, SpotSet, default_cache_dir, simulate_spots
from .tokens import TokenSettings, make_tokens

__all__ = ["train_model", "validation_figures"]


def _write_training_state(path: Path, state: dict) -> None:
    """Write the training state atomically (a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _read_training_state(path: Path, fingerprint: str) -> dict:
    """Read a training state written by :func:`_write_training_state`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        stored = state["fingerprint"]
    except Exception as error:  # torch raises many types for bad files
        raise ValueError(
            f"{path} is not a readable training checkpoint ({type(error).__name__}:"
            f" {error}); delete it to start afresh."
        ) from error
    if stored != fingerprint:
        raise ValueError(
            f"{path} holds the state of a training run with other phases or "
            "settings; pass another `checkpoint` path or delete it to start afresh."
        )
    return state


def _warn_lower_symmetry(phase_list) -> None:
    """Warn where a phase declares less symmetry than its atoms have."""
    for _, phase in phase_list:
        report = detect_space_group(phase)
        if report.detected > report.declared:
            warnings.warn(
                f"Phase {phase.name!r} declares space group {report.declared} but "
                f"its atoms have the symmetry of {report.symbol} "
                f"({report.detected}, point group {report.point_group}). The "
                "model would learn the wrong fundamental zone; read the CIF with "
                "pyxem_transformer.phase_from_cif, which detects the symmetry.",
                SymmetryWarning,
                stacklevel=3,
            )


def _tensors(spots_peaks, rotations, phase_index, token_settings):
    tokens, mask = make_tokens(spots_peaks, token_settings)
    matrices = Rotation(rotations).to_matrix().astype(np.float32)
    return (
        torch.from_numpy(tokens),
        torch.from_numpy(mask),
        torch.from_numpy(matrices),
        torch.from_numpy(np.asarray(phase_index, dtype=np.int64)),
    )


#: Batches per window of the shuffled patterns that are sorted by token count
#: before they are cut into batches (:func:`_batches`).
SORT_WINDOW = 16


def _batches(
    counts: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of patterns with similar numbers of tokens.

    The patterns are shuffled, every ``SORT_WINDOW`` batches' worth is sorted
    by token count and cut into batches, and the batches are shuffled. Each
    batch is then trimmed to its longest pattern: padding costs as much as
    peaks in the encoder, and most patterns hold far fewer peaks than
    ``n_tokens`` (on the Cu set, 14 on average of 24; a training step at 16
    tokens took two thirds of the time of one at 24 on this project's 2-core
    machine). The windows keep the batches random otherwise.
    """
    order = rng.permutation(counts.size)
    span = batch_size * SORT_WINDOW
    batches = []
    for start in range(0, order.size, span):
        window = order[start : start + span]
        window = window[np.argsort(counts[window], kind="stable")]
        batches += [
            window[i : i + batch_size] for i in range(0, window.size, batch_size)
        ]
    return [batches[i] for i in rng.permutation(len(batches))]


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
    :func:`pyxem_transformer.metrics.summarize`.

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


def train_model(
    phases: Phase | Sequence[Phase],
    *,
    n_per_phase: int = 50_000,
    epochs: int = 40,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    validation_fraction: float = 0.05,
    patience: int = 6,
    max_minutes: float | None = None,
    model_config: ModelConfig = ModelConfig(),
    simulation_settings: SimulationSettings = SimulationSettings(),
    augmentation: AugmentationSettings = AugmentationSettings(),
    token_settings: TokenSettings | None = None,
    friedel: bool = True,
    device: str = "auto",
    seed: int = 0,
    cache_dir: str | Path | None = "default",
    spots: SpotSet | None = None,
    show_progressbar: bool = True,
    checkpoint: str | Path | None = None,
) -> OrientationTransformer:
    """Train a transformer for the given phases on simulated data.

    Simulates (or reads from the cache) spot lists of uniformly random
    orientations, augments them afresh every epoch to look like peaks found
    in measured patterns, and trains with AdamW and a warm-up plus cosine
    learning-rate schedule. Patterns are held back (augmented once, with a
    fixed seed) and split in two halves. Each epoch is scored on the first
    (the selection half); the best epoch's weights are kept, training stops
    early after ``patience`` epochs without improvement of the median
    misorientation, or when ``max_minutes`` is spent (the schedule is then
    fitted to the budget). The figures the model reports
    (``training_info["validation"]``, also the fit's prior, see
    :func:`pyxem_transformer.predict.prior_sigma`) come from the other half,
    which played no part in choosing the epoch, so they are not flattered
    by the choice.

    The loss is the geodesic angle to the nearest symmetry-equivalent truth
    (proper point group of the true phase, and with ``friedel=True`` the 180°
    about-the-beam twin, which a zero-order pattern cannot resolve), plus
    phase cross-entropy, plus a binary cross-entropy teaching the confidence
    head whether the answer is within 5°. The confidence is then calibrated
    on the selection half (Platt scaling).

    Parameters
    ----------
    phases
        orix phases with atoms (e.g. ``pyxem_transformer.phases.cu()``).
    n_per_phase
        Simulated patterns per phase.
    epochs, batch_size, learning_rate, weight_decay
        Optimiser settings.
    validation_fraction
        Fraction of patterns held back (at least two): half to choose the
        epoch, half for the reported figures.
    patience
        Epochs without improvement before stopping.
    max_minutes
        Wall-clock budget for the training loop (simulation not included;
        a resumed run counts its earlier sessions). The learning-rate cosine
        then ends at whichever comes first, ``epochs`` or the budget, so a
        run cut short by a slow machine still ends annealed; such a run
        depends on the machine's speed, not only on ``seed``.
    model_config
        Network sizes (``ModelConfig.preset("large")`` for a GPU).
    simulation_settings
        Physics of the simulated set.
    augmentation
        Ranges of the augmentation effects.
    token_settings
        Token settings; by default ``n_tokens`` is chosen from the augmented
        data and ``max_radius`` is the simulated reciprocal radius.
    friedel
        Fold the 180° about-the-beam twin into the loss.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    seed
        Seed of simulation, split, augmentation and initial weights.
    cache_dir
        Cache of simulated sets (``"default"``: see
        :func:`pyxem_transformer.simulation.default_cache_dir`; None: none).
    spots
        A simulated set to use instead of simulating.
    show_progressbar
        Show progress bars with the running figures.
    checkpoint
        File where the full training state is written (atomically) after
        every epoch. If it exists when training starts, training resumes
        from it, giving the same model as an uninterrupted run; it must
        come from a run with the same phases and settings.

    Returns
    -------
    model
        The trained model (evaluation mode); ``model.training_info`` holds the
        settings, per-epoch history and final validation figures.
    """
    phase_list = as_phase_list(phases)
    _warn_lower_symmetry(phase_list)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = resolve_device(device)
    if cache_dir == "default":
        cache_dir = default_cache_dir()
    if spots is None:
        spots = simulate_spots(
            phase_list,
            n_per_phase,
            simulation_settings,
            seed=seed,
            cache_dir=cache_dir,
            show_progressbar=show_progressbar,
        )
    elif spots.phases.names != phase_list.names:
        raise ValueError(
            f"The simulated set holds phases {spots.phases.names}, not "
            f"{phase_list.names}."
        )
    n = spots.n_patterns
    order = rng.permutation(n)
    n_val = max(2, int(round(validation_fraction * n)))
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    if train_idx.size == 0:
        raise ValueError("Too few patterns to hold some back for validation.")

    train_peaks, val_peaks = spots.peaks.take(train_idx), spots.peaks.take(val_idx)
    val_aug, val_rot = augment_peaks(
        val_peaks,
        spots.rotations[val_idx],
        np.random.default_rng(seed + 1),
        augmentation,
    )
    if token_settings is None:
        token_settings = TokenSettings.from_peak_counts(
            val_aug.counts, max_radius=simulation_settings.reciprocal_radius
        )
    model = OrientationTransformer(phase_list, token_settings, model_config).to(dev)
    held = _tensors(val_aug, val_rot, spots.phase_index[val_idx], token_settings)
    # Alternate patterns, so both halves hold every phase (the held-back
    # indices are sorted, and simulated sets are ordered by phase).
    selection = tuple(t[0::2] for t in held)  # chooses the epoch
    test = tuple(t[1::2] for t in held)  # reports the figures

    optimiser = torch.optim.AdamW(
        model.parameters(), lr=learning_rate, weight_decay=weight_decay
    )
    steps_per_epoch = math.ceil(train_idx.size / batch_size)
    total_steps = steps_per_epoch * epochs
    warmup = min(500, total_steps // 10 + 1)
    budget = None if max_minutes is None else 60.0 * max_minutes
    # Seconds spent in earlier sessions of a resumed run, and this one's start.
    clock = {"before": 0.0, "start": time.perf_counter()}

    def spent() -> float:
        return clock["before"] + time.perf_counter() - clock["start"]

    def schedule(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        if budget:
            # Whichever ends first, the epochs or the budget, ends the cosine:
            # a run cut by the budget still ends annealed, however fast the
            # machine turns out to be.
            progress = max(progress, spent() / budget)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss()
    history, best, best_state, stale = [], math.inf, None, 0
    fingerprint = json.dumps(
        {
            "phases": phase_list.names,
            "n_patterns": int(n),
            "seed": seed,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "weight_decay": weight_decay,
            "model": asdict(model_config),
            "augmentation": augmentation.as_dict(),
            "tokens": asdict(token_settings),
            "friedel": friedel,
            "validation": "selection and test halves",
        },
        sort_keys=True,
    )
    first_epoch = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = _read_training_state(Path(checkpoint), fingerprint)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        best_state, best, stale = state["best_state"], state["best"], state["stale"]
        history = json.loads(state["history"])
        rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        clock["before"] = float(state.get("seconds", 0.0))
        first_epoch = len(history)
    clock["start"] = time.perf_counter()
    stopped = "epochs"
    bar = tqdm(
        total=epochs,
        initial=first_epoch,
        disable=not show_progressbar,
        desc="Training",
        unit="epoch",
    )
    for epoch in range(first_epoch, epochs):
        model.train()
        aug, rot = augment_peaks(
            train_peaks, spots.rotations[train_idx], rng, augmentation
        )
        tokens, mask, truth, phase = _tensors(
            aug, rot, spots.phase_index[train_idx], token_settings
        )
        counts = mask.sum(1).numpy()
        running, steps = 0.0, 0
        for batch in _batches(counts, batch_size, rng):
            idx = torch.from_numpy(batch)
            # Tokens are a prefix of each row: drop the padding all share.
            width = max(1, int(counts[batch].max()))
            t, m = tokens[idx, :width].to(dev), mask[idx, :width].to(dev)
            r, p = truth[idx].to(dev), phase[idx].to(dev)
            logits, angle, conf_logit, within = _losses(model, t, m, r, p, friedel)
            loss = angle.mean() + ce(logits, p) + 0.1 * bce(conf_logit, within.float())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            running += loss.item()
            steps += 1
            if budget is not None and spent() > budget:
                break  # the learning rate has reached zero
        figures = validation_figures(model, *selection, friedel=friedel)
        record = {k: v for k, v in figures.items() if not k.startswith("_")}
        record.update(
            epoch=epoch + 1,
            loss=running / max(1, steps),
            learning_rate=scheduler.get_last_lr()[0],
        )
        history.append(record)
        if best_state is None or record["median_misorientation"] < best:
            best, stale = record["median_misorientation"], 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        bar.set_postfix(
            median=f"{record['median_misorientation']:.2f}°",
            under5=f"{record['fraction_under_5']:.0%}",
            phase=f"{record['phase_accuracy']:.1%}",
        )
        bar.update()
        if checkpoint is not None:
            _write_training_state(
                Path(checkpoint),
                {
                    "fingerprint": fingerprint,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "best_state": best_state,
                    "best": best,
                    "stale": stale,
                    "history": json.dumps(history),
                    "rng": json.dumps(rng.bit_generator.state),
                    "torch_rng": torch.get_rng_state(),
                    "seconds": spent(),
                },
            )
        if stale >= patience:
            stopped = "early stopping"
            break
        if budget is not None and spent() > budget:
            stopped = "time budget"
            break
    bar.close()
    model.load_state_dict(best_state)
    chosen = validation_figures(model, *selection, friedel=friedel)
    calibration = _fit_calibration(chosen["_confidence_logits"], chosen["_within"])
    final = validation_figures(model, *test, friedel=friedel)
    for key in ("_confidence_logits", "_within"):
        final.pop(key)
    model.training_info = {
        "phases": phase_list.names,
        "n_per_phase": int(spots.n_patterns // len(phase_list.names)),
        "simulation": asdict(spots.settings),
        "augmentation": augmentation.as_dict(),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "epochs_run": len(history),
        "stopped_by": stopped,
        "minutes": spent() / 60,
        "device": str(dev),
        "seed": seed,
        "friedel_folded": friedel,
        "validation": final,
        "validation_split": (
            "history and epoch choice on half of the held-back patterns, "
            "validation on the other half"
        ),
        "history": history,
        "confidence_calibration": calibration,
    }
    return model.eval()
