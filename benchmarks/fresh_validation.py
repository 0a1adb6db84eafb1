"""Score shipped models on a freshly simulated validation set.

    python benchmarks/fresh_validation.py                 # cu, cu_cu2o, ti
    python benchmarks/fresh_validation.py cu --patterns 10000 --seed 7

A model's recorded figures (``training_info["validation"]``) were measured
on held-back patterns. For the models trained before the selection and test
halves (see ``pyxem_transformer.model.train.train_model``), the best epoch was
chosen on those same patterns, which flatters them a little. This script
simulates new spot lists for the model's phases (its simulation settings,
another seed), augments them with the model's augmentation settings and
scores the network alone, as training does, next to the recorded figures.
"""

import argparse
import logging

import numpy as np

from pyxem_transformer import phases
from pyxem_transformer.model._training_data import _tensors
from pyxem_transformer.model.validation import validation_figures
from pyxem_transformer.model.zoo import available, pretrained
from pyxem_transformer.simulation.spots import SimulationSettings, simulate_spots
from pyxem_transformer.tokens.augment import AugmentationSettings, augment_peaks


def fresh_figures(name: str, n_patterns: int, seed: int) -> tuple[dict, dict]:
    """Return (fresh, recorded) validation figures of shipped model ``name``."""
    model = pretrained(name)
    info = model.training_info
    phase_list = [phases.by_name(p.name.lower()) for p in model.phases]
    simulation = info["simulation"]
    settings = SimulationSettings(
        **{
            **simulation,
            "max_excitation_error": tuple(simulation["max_excitation_error"]),
        }
    )
    spots = simulate_spots(
        phase_list,
        n_patterns // len(phase_list),
        settings,
        seed=seed,
        show_progressbar=False,
    )
    augmented, rotations = augment_peaks(
        spots.peaks,
        spots.rotations,
        np.random.default_rng(seed + 1),
        AugmentationSettings(**info["augmentation"]),
    )
    tensors = _tensors(augmented, rotations, spots.phase_index, model.token_settings)
    fresh = validation_figures(model, *tensors, friedel=info["friedel_folded"])
    return fresh, info["validation"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=available())
    parser.add_argument("--patterns", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    print(
        "| model | set | median (deg) | < 2 deg | < 5 deg | phase | patterns |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    for name in args.models:
        fresh, recorded = fresh_figures(name, args.patterns, args.seed)
        for label, f in (("recorded", recorded), (f"fresh, seed {args.seed}", fresh)):
            print(
                f"| `{name}` | {label} | {f['median_misorientation']:.2f} | "
                f"{f['fraction_under_2']:.1%} | {f['fraction_under_5']:.1%} | "
                f"{f['phase_accuracy']:.2%} | {f['n_patterns']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
