"""Pretrained models shipped inside the package (no downloads).

Each ``<name>.pt`` in the ``pretrained`` folder was written by
``python scripts/train_pretrained.py <name>``; the ``<name>.json`` beside it
holds its training record and validation figures.
"""

import json
from importlib import resources
from pathlib import Path

from pyxem_transformer.model.network import OrientationTransformer, load_model

__all__ = ["available", "pretrained", "validation_figures"]


def _folder() -> Path:
    return Path(str(resources.files("pyxem_transformer.model") / "pretrained"))


def available() -> list[str]:
    """Return the names of the shipped models.

    Returns
    -------
    names
        Names accepted by :func:`pretrained`.
    """
    folder = _folder()
    return sorted(p.stem for p in folder.glob("*.pt")) if folder.exists() else []


def pretrained(name: str, device: str = "cpu") -> OrientationTransformer:
    """Load a shipped model by name, offline.

    Parameters
    ----------
    name
        One of :func:`available`, e.g. ``"cu"`` or ``"cu_cu2o"``.
    device
        Torch device for the weights.

    Returns
    -------
    model
        The model in evaluation mode.
    """
    names = available()
    if name not in names:
        raise ValueError(
            f"No pretrained model {name!r}; shipped models: {names}. Train one "
            "for your phases with pxt.train_model(phases=[...])."
        )
    return load_model(_folder() / f"{name}.pt", map_location=device)


def validation_figures(name: str) -> dict:
    """Return the validation figures recorded when model ``name`` was trained.

    Parameters
    ----------
    name
        A shipped model's name.

    Returns
    -------
    figures
        Median misorientation, fractions under 2 and 5 degrees, phase accuracy.
    """
    path = _folder() / f"{name}.json"
    if not path.exists():
        raise ValueError(f"No record for pretrained model {name!r}.")
    return json.loads(path.read_text())["validation"]
