"""The physics of each simulated chunk: kinematic, dynamical or precession.

A training set can mix three kinds of patterns, drawn per chunk of
``SimulationSettings.chunk_size`` patterns with the settings' fractions:

* ``kinematic``: diffsims spots, ``|F|**2`` times a shape factor of the
  excitation error (cut-off drawn per chunk);
* ``dynamical``: Bloch-wave intensities from abTEM
  (:func:`~pyxem_transformer.simulation.dynamical.bloch_spots`), thickness
  drawn log-uniformly per pattern and the Debye-Waller displacement per
  chunk;
* ``precession``: diffsims' kinematic precession
  (``SimulationGenerator(precession_angle=...)``), the angle drawn per chunk.
  It integrates over the excitation error and brings back weak, high-order
  reflections, as precession electron diffraction (PED) does.
"""

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator

__all__ = ["PHYSICS", "draw_physics"]

#: Names of the physics, in the order of their codes in ``SpotSet.physics``.
PHYSICS = ("kinematic", "dynamical", "precession")


def draw_physics(settings, n_chunks: int, rng: np.random.Generator) -> np.ndarray:
    """The physics code of each chunk, drawn with the settings' fractions.

    Kinematic-only settings draw nothing from ``rng``, so sets simulated
    before physics mixtures existed come out the same.

    Parameters
    ----------
    settings
        A :class:`~pyxem_transformer.simulation.SimulationSettings`.
    n_chunks
        Number of chunks.
    rng
        Random generator.

    Returns
    -------
    codes
        ``(n_chunks,)`` indices into :data:`PHYSICS`.
    """
    dynamical, precession = settings.dynamical_fraction, settings.precession_fraction
    if dynamical == 0 and precession == 0:
        return np.zeros(n_chunks, np.int8)
    p = [1.0 - dynamical - precession, dynamical, precession]
    return rng.choice(3, size=n_chunks, p=p).astype(np.int8)


def log_uniform(
    low_high: tuple[float, float], size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` values drawn log-uniformly from ``(low, high)``."""
    low, high = np.log(low_high[0]), np.log(low_high[1])
    return np.exp(rng.uniform(low, high, size))


def precession_generator(settings, rng: np.random.Generator):
    """A diffsims generator at a precession angle drawn from the settings.

    Returns
    -------
    generator, angle
        The ``SimulationGenerator`` and its precession angle (degrees).
    """
    angle = float(rng.uniform(*settings.precession_angle))
    generator = SimulationGenerator(
        accelerating_voltage=settings.accelerating_voltage, precession_angle=angle
    )
    return generator, angle
