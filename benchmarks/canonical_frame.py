"""Side-by-side training with and without the canonical frame.

    python benchmarks/canonical_frame.py [--phase cu] [--n 20000] [--epochs 12]

Trains two small models on the same simulated set, with the same seed and
number of epochs, one reading tokens in the detector frame and one in the
canonical frame (``ModelConfig.canonical_frame``: each pattern turned so its
strongest spot lies along +kx), and prints both validation records (network
alone, held-back augmented tokens, Friedel twin counted as right). On
2026-11-26 (Cu, 20,000 patterns, 12 epochs, 2-core CPU, each run on one core
beside the other) the median went from 12.0° to 4.4° and the fraction under
5° from 12% to 58%.
"""

import argparse
import json

import pyxem_transformer as pxt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase", default="cu")
    parser.add_argument("--n", type=int, default=20_000, help="patterns per phase")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    phase = pxt.phases.by_name(args.phase)
    for canonical in (False, True):
        model = pxt.train_model(
            [phase],
            n_per_phase=args.n,
            epochs=args.epochs,
            patience=args.epochs,
            model_config=pxt.ModelConfig(canonical_frame=canonical),
        )
        figures = model.training_info["validation"]
        print(f"canonical_frame={canonical}: {json.dumps(figures)}")


if __name__ == "__main__":
    main()
