"""Training a model on simulated, augmented tokens for the user's phases."""

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from orix.crystal_map import Phase

from pyxem_transformer._validation import as_phase_list
from pyxem_transformer.crystal.cif import SymmetryWarning, detect_space_group
from pyxem_transformer.model._trainer import Trainer, TrainingOptions
from pyxem_transformer.model.device import resolve_device
from pyxem_transformer.model.network import ModelConfig, OrientationTransformer
from pyxem_transformer.simulation.spots import (
    SimulationSettings,
    SpotSet,
    default_cache_dir,
    simulate_spots,
)
from pyxem_transformer.tokens.augment import AugmentationSettings
from pyxem_transformer.tokens.tokenize import TokenSettings

__all__ = ["train_model"]


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


def _from_initial(initial, phase_list, model_config, token_settings):
    """The network sizes and token settings of a fine-tuning run."""
    if [p.name for p in initial.phases] != list(phase_list.names):
        raise ValueError(
            f"`initial_model` has phases {[p.name for p in initial.phases]}, not "
            f"{list(phase_list.names)}; fine-tune a model of the same phases."
        )
    if model_config != ModelConfig() or token_settings is not None:
        raise ValueError(
            "With `initial_model`, leave `model_config` and `token_settings` at "
            "their defaults: the initial model's are used."
        )
    return initial.config, initial.token_settings


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
    initial_model: OrientationTransformer | None = None,
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
    :func:`pyxem_transformer.mapping.prior_sigma`) come from the other half,
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
        orix phases with atoms (e.g. ``pyxem_transformer.crystal.phases.cu()``).
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
    initial_model
        Start from this model's weights (fine-tuning, e.g. a shipped model on
        new physics) instead of random ones. It must have the same phases;
        its token settings and network sizes are used, and ``model_config``
        and ``token_settings`` must be left at their defaults.

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
    if initial_model is not None:
        model_config, token_settings = _from_initial(
            initial_model, phase_list, model_config, token_settings
        )
    options = TrainingOptions(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        validation_fraction=validation_fraction,
        patience=patience,
        max_minutes=max_minutes,
        model_config=model_config,
        simulation_settings=simulation_settings,
        augmentation=augmentation,
        token_settings=token_settings,
        friedel=friedel,
        seed=seed,
        show_progressbar=show_progressbar,
    )
    trainer = Trainer(phase_list, spots, options, dev, rng)
    if initial_model is not None:
        trainer.model.load_state_dict(initial_model.state_dict())
    if checkpoint is not None and Path(checkpoint).exists():
        trainer.resume(Path(checkpoint))
    stopped = trainer.loop(None if checkpoint is None else Path(checkpoint))
    model = trainer.finish(stopped)
    if initial_model is not None:
        # What the run started from, for the record.
        info = initial_model.training_info
        model.training_info["initial_model"] = {
            k: info.get(k) for k in ("seed", "validation", "simulation")
        }
    return model
