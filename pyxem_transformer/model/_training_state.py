"""The full state of a training run on disk, for resuming it."""

import os
from pathlib import Path

import torch


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
