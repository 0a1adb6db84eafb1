"""The steps of :func:`~pyxem_transformer.model.train.train_model`.

:class:`Trainer` holds one run's data, model, optimiser and loop state:
``prepare`` (split, augment the held-back patterns, build the model and the
optimiser), ``resume``, ``run_epoch``, ``validate``, ``save_checkpoint`` and
``finish``. The order of the random draws is part of the contract (a seed
gives one model, and a resumed run the same model as an uninterrupted one),
so the steps draw in a fixed order.
"""

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from orix.crystal_map import PhaseList
from tqdm.auto import tqdm

from pyxem_transformer.model._training_data import _batches, _tensors
from pyxem_transformer.model._training_state import (
    _read_training_state,
    _write_training_state,
)
from pyxem_transformer.model.network import ModelConfig, OrientationTransformer
from pyxem_transformer.model.validation import (
    _fit_calibration,
    _losses,
    validation_figures,
)
from pyxem_transformer.simulation.physics import PHYSICS
from pyxem_transformer.simulation.spots import SimulationSettings, SpotSet
from pyxem_transformer.tokens.augment import AugmentationSettings, augment_peaks
from pyxem_transformer.tokens.tokenize import TokenSettings


def _absolute(spots: SpotSet, rows: np.ndarray) -> np.ndarray:
    """Which patterns hold intensities as fractions of the incident beam:
    the Bloch-wave ones."""
    return np.asarray(spots.physics)[rows] == PHYSICS.index("dynamical")


@dataclass(frozen=True)
class TrainingOptions:
    """The settings of one run (see :func:`train_model` for their meaning)."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    validation_fraction: float
    patience: int
    max_minutes: float | None
    model_config: ModelConfig
    simulation_settings: SimulationSettings
    augmentation: AugmentationSettings
    token_settings: TokenSettings | None
    friedel: bool
    seed: int
    show_progressbar: bool


class Trainer:
    """One training run on a simulated set, step by step.

    Parameters
    ----------
    phases
        The model's phases.
    spots
        The simulated set of those phases.
    options
        The run's settings.
    device
        Where to train.
    rng
        The run's generator, already seeded (it drew nothing yet).
    """

    def __init__(
        self,
        phases: PhaseList,
        spots: SpotSet,
        options: TrainingOptions,
        device: torch.device,
        rng: np.random.Generator,
    ) -> None:
        self.phases, self.spots, self.options = phases, spots, options
        self.device, self.rng = device, rng
        self.history: list[dict] = []
        self.best, self.best_state, self.stale = math.inf, None, 0
        # Seconds spent in earlier sessions of a resumed run, and this one's start.
        self.seconds_before, self.started = 0.0, time.perf_counter()
        self.prepare()

    def prepare(self) -> None:
        """Split off the held-back patterns, build the model and optimiser."""
        o, spots = self.options, self.spots
        n = spots.n_patterns
        order = self.rng.permutation(n)
        n_val = max(2, int(round(o.validation_fraction * n)))
        val_idx, self.train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        if self.train_idx.size == 0:
            raise ValueError("Too few patterns to hold some back for validation.")
        self.train_peaks = spots.peaks.take(self.train_idx)
        val_aug, val_rot = augment_peaks(
            spots.peaks.take(val_idx),
            spots.rotations[val_idx],
            np.random.default_rng(o.seed + 1),
            o.augmentation,
            _absolute(spots, val_idx),
        )
        self.token_settings = o.token_settings
        if self.token_settings is None:
            self.token_settings = TokenSettings.from_peak_counts(
                val_aug.counts, max_radius=o.simulation_settings.reciprocal_radius
            )
        self.model = OrientationTransformer(
            self.phases, self.token_settings, o.model_config
        ).to(self.device)
        held = _tensors(
            val_aug, val_rot, spots.phase_index[val_idx], self.token_settings
        )
        # Alternate patterns, so both halves hold every phase (the held-back
        # indices are sorted, and simulated sets are ordered by phase).
        self.selection = tuple(t[0::2] for t in held)  # chooses the epoch
        self.test = tuple(t[1::2] for t in held)  # reports the figures
        self.test_physics = np.asarray(spots.physics)[val_idx][1::2]
        self.optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=o.learning_rate, weight_decay=o.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser, self._schedule()
        )

    @property
    def budget(self) -> float | None:
        """The training loop's budget in seconds (None: no budget)."""
        return (
            None if self.options.max_minutes is None else 60 * self.options.max_minutes
        )

    def spent(self) -> float:
        """Seconds of training so far, earlier sessions of the run included."""
        return self.seconds_before + time.perf_counter() - self.started

    def _schedule(self):
        """Warm-up, then a cosine that ends with the epochs or the budget."""
        o = self.options
        total_steps = math.ceil(self.train_idx.size / o.batch_size) * o.epochs
        warmup = min(500, total_steps // 10 + 1)

        def schedule(step):
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total_steps - warmup)
            if self.budget:
                # Whichever ends first, the epochs or the budget, ends the
                # cosine: a run cut by the budget still ends annealed, however
                # fast the machine turns out to be.
                progress = max(progress, self.spent() / self.budget)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        return schedule

    def fingerprint(self) -> str:
        """What a checkpoint must have been written with to be resumed."""
        o = self.options
        return json.dumps(
            {
                "phases": self.phases.names,
                "n_patterns": int(self.spots.n_patterns),
                "seed": o.seed,
                "epochs": o.epochs,
                "batch_size": o.batch_size,
                "learning_rate": o.learning_rate,
                "weight_decay": o.weight_decay,
                "model": asdict(o.model_config),
                "augmentation": o.augmentation.as_dict(),
                "tokens": asdict(self.token_settings),
                "friedel": o.friedel,
                "validation": "selection and test halves",
            },
            sort_keys=True,
        )

    def resume(self, path: Path) -> None:
        """Restore the state a checkpoint holds."""
        state = _read_training_state(path, self.fingerprint())
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.best_state, self.best = state["best_state"], state["best"]
        self.stale = state["stale"]
        self.history = json.loads(state["history"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.seconds_before = float(state.get("seconds", 0.0))

    def run_epoch(self) -> float:
        """Train one epoch on freshly augmented patterns; the mean loss."""
        o, spots, dev = self.options, self.spots, self.device
        self.model.train()
        aug, rot = augment_peaks(
            self.train_peaks,
            spots.rotations[self.train_idx],
            self.rng,
            o.augmentation,
            _absolute(spots, self.train_idx),
        )
        tokens, mask, truth, phase = _tensors(
            aug, rot, spots.phase_index[self.train_idx], self.token_settings
        )
        counts = mask.sum(1).numpy()
        bce, ce = torch.nn.BCEWithLogitsLoss(), torch.nn.CrossEntropyLoss()
        running, steps = 0.0, 0
        for batch in _batches(counts, o.batch_size, self.rng):
            idx = torch.from_numpy(batch)
            # Tokens are a prefix of each row: drop the padding all share.
            width = max(1, int(counts[batch].max()))
            t, m = tokens[idx, :width].to(dev), mask[idx, :width].to(dev)
            r, p = truth[idx].to(dev), phase[idx].to(dev)
            logits, angle, conf_logit, within = _losses(
                self.model, t, m, r, p, o.friedel
            )
            loss = angle.mean() + ce(logits, p) + 0.1 * bce(conf_logit, within.float())
            self.optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimiser.step()
            self.scheduler.step()
            running += loss.item()
            steps += 1
            if self.budget is not None and self.spent() > self.budget:
                break  # the learning rate has reached zero
        return running / max(1, steps)

    def validate(self, epoch: int, loss: float) -> dict:
        """Score the epoch on the selection half; keep the best weights."""
        figures = validation_figures(
            self.model, *self.selection, friedel=self.options.friedel
        )
        record = {k: v for k, v in figures.items() if not k.startswith("_")}
        record.update(
            epoch=epoch + 1,
            loss=loss,
            learning_rate=self.scheduler.get_last_lr()[0],
        )
        self.history.append(record)
        if self.best_state is None or record["median_misorientation"] < self.best:
            self.best, self.stale = record["median_misorientation"], 0
            self.best_state = {
                k: v.detach().clone() for k, v in self.model.state_dict().items()
            }
        else:
            self.stale += 1
        return record

    def save_checkpoint(self, path: Path) -> None:
        """Write the full state atomically."""
        _write_training_state(
            path,
            {
                "fingerprint": self.fingerprint(),
                "model": self.model.state_dict(),
                "optimiser": self.optimiser.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "best_state": self.best_state,
                "best": self.best,
                "stale": self.stale,
                "history": json.dumps(self.history),
                "rng": json.dumps(self.rng.bit_generator.state),
                "torch_rng": torch.get_rng_state(),
                "seconds": self.spent(),
            },
        )

    def loop(self, checkpoint: Path | None) -> str:
        """Run the epochs; what stopped them."""
        o = self.options
        first_epoch = len(self.history)
        self.started = time.perf_counter()
        bar = tqdm(
            total=o.epochs,
            initial=first_epoch,
            disable=not o.show_progressbar,
            desc="Training",
            unit="epoch",
        )
        stopped = "epochs"
        for epoch in range(first_epoch, o.epochs):
            record = self.validate(epoch, self.run_epoch())
            bar.set_postfix(
                median=f"{record['median_misorientation']:.2f}°",
                under5=f"{record['fraction_under_5']:.0%}",
                phase=f"{record['phase_accuracy']:.1%}",
            )
            bar.update()
            if checkpoint is not None:
                self.save_checkpoint(checkpoint)
            if self.stale >= o.patience:
                stopped = "early stopping"
                break
            if self.budget is not None and self.spent() > self.budget:
                stopped = "time budget"
                break
        bar.close()
        return stopped

    def _figures_by_physics(self) -> dict:
        """The test half's figures for each physics it holds."""
        figures = {}
        for code in np.unique(self.test_physics):
            rows = torch.from_numpy(np.flatnonzero(self.test_physics == code))
            one = validation_figures(
                self.model,
                *(t[rows] for t in self.test),
                friedel=self.options.friedel,
            )
            figures[PHYSICS[int(code)]] = {
                k: v for k, v in one.items() if not k.startswith("_")
            }
        return figures

    def finish(self, stopped: str) -> OrientationTransformer:
        """Keep the best epoch, calibrate the confidence, report the figures."""
        o, model = self.options, self.model
        model.load_state_dict(self.best_state)
        chosen = validation_figures(model, *self.selection, friedel=o.friedel)
        calibration = _fit_calibration(chosen["_confidence_logits"], chosen["_within"])
        final = validation_figures(model, *self.test, friedel=o.friedel)
        for key in ("_confidence_logits", "_within"):
            final.pop(key)
        by_physics = self._figures_by_physics()
        model.training_info = {
            "phases": self.phases.names,
            "n_per_phase": int(self.spots.n_patterns // len(self.phases.names)),
            "simulation": asdict(self.spots.settings),
            "augmentation": o.augmentation.as_dict(),
            "epochs": o.epochs,
            "batch_size": o.batch_size,
            "learning_rate": o.learning_rate,
            "weight_decay": o.weight_decay,
            "epochs_run": len(self.history),
            "stopped_by": stopped,
            "minutes": self.spent() / 60,
            "device": str(self.device),
            "seed": o.seed,
            "friedel_folded": o.friedel,
            "validation": final,
            "validation_by_physics": by_physics,
            "validation_split": (
                "history and epoch choice on half of the held-back patterns, "
                "validation on the other half"
            ),
            "history": self.history,
            "confidence_calibration": calibration,
        }
        return model.eval()
