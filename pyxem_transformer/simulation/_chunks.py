"""The chunks of a simulated training set, each with its own physics."""

import os

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.quaternion import Orientation

from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.simulation.frame import simulated_spot_lists
from pyxem_transformer.simulation.physics import (
    draw_physics,
    log_uniform,
    precession_generator,
)
from pyxem_transformer.simulation.sampling import random_rotations


def simulate_phase(phase, index, n, settings, rng, bar) -> list[dict]:
    """One phase's chunks; dynamical ones hold their draws, no spots yet."""
    symmetry = phase.point_group.proper_subgroup
    for_diffsims = diffsims_phase(phase)
    fz = Orientation(random_rotations(n, rng).data, symmetry=symmetry).reduce()
    chunk = int(settings.chunk_size)
    n_chunks = -(-n // chunk)
    codes = draw_physics(settings, n_chunks, rng)
    kinematic = SimulationGenerator(accelerating_voltage=settings.accelerating_voltage)
    parts = []
    for k in range(n_chunks):
        part = fz[k * chunk : (k + 1) * chunk]
        error = float(rng.uniform(*settings.max_excitation_error))
        code = int(codes[k])
        parameter = np.full(part.size, np.nan, np.float32)
        spots = None
        if code == 1:  # Bloch waves later, all chunks at once, in parallel
            parameter[:] = log_uniform(settings.thickness, part.size, rng)
            # On a 0.005 Å grid: each value costs every worker a structure
            # factor.
            sigma = round(float(rng.uniform(*settings.thermal_sigma)) / 0.005) * 0.005
        else:
            generator = kinematic
            if code == 2:
                generator, angle = precession_generator(settings, rng)
                parameter[:] = angle
            spots = simulated_spot_lists(
                generator,
                for_diffsims,
                part,
                settings.reciprocal_radius,
                error,
                settings.minimum_intensity,
            )
            bar.update(part.size)
        parts.append(
            {
                "spots": spots,
                "rotations": part.data,
                "phase_index": np.full(part.size, index),
                "excitation_error": np.full(part.size, error, np.float32),
                "physics": np.full(part.size, code, np.int8),
                "parameter": parameter,
                "sigma": np.full(part.size, sigma if code == 1 else np.nan),
            }
        )
    return parts


def fill_dynamical(parts, phase_objs, settings, n_jobs, show_progressbar) -> None:
    """Bloch-wave spots of every dynamical chunk (abTEM, worker processes)."""
    todo = [p for p in parts if p["spots"] is None]
    if not todo:
        return
    from pyxem_transformer.simulation.dynamical import bloch_spots

    n_jobs = (os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    # One call per phase: its chunks share the worker processes.
    for index in sorted({int(p["phase_index"][0]) for p in todo}):
        group = [p for p in todo if int(p["phase_index"][0]) == index]
        result = bloch_spots(
            phase_objs[index],
            np.concatenate([p["rotations"] for p in group]),
            np.concatenate([p["parameter"] for p in group]),
            thermal_sigma=np.concatenate([p["sigma"] for p in group]),
            accelerating_voltage=settings.accelerating_voltage,
            reciprocal_radius=settings.reciprocal_radius,
            minimum_intensity=settings.minimum_intensity,
            n_jobs=n_jobs,
            show_progressbar=show_progressbar,
        )
        start = 0
        for p in group:
            p["spots"] = result.spots[start : start + len(p["rotations"])]
            start += len(p["rotations"])
