"""Side-by-side comparison with pyxem template matching on the same data.

Both methods run end to end, from the ``Diffraction2D`` to an orix
``CrystalMap``, after a warm-up, in one process:

* template matching: ``get_azimuthal_integral2d`` (polar transform covering
  the pattern), ``get_orientation`` with a diffsims library of
  ``get_sample_reduced_fundamental`` rotations at ``library_step`` degrees,
  ``max_excitation_error`` and ``reciprocal_radius`` equal to the data's
  (its best settings), then ``to_crystal_map()``; for several phases one
  library holds all of them and ``n_best=2`` (pyxem 0.21's
  ``to_crystal_map`` fails for multi-phase maps at ``n_best=1``);
* transformer: ``get_orientation_map_transformer`` (batched peak finding,
  tokens, model), then ``to_crystal_map()``.

Accuracy is scored with
:func:`pyxem_transformer.evaluation.metrics.compare_crystal_maps` against
the simulated truth, both with the Friedel twin counted as right and
strictly.
"""

import time
import tracemalloc
from dataclasses import dataclass, replace

import numpy as np
from diffsims.generators.simulation_generator import SimulationGenerator
from orix.sampling import get_sample_reduced_fundamental

from pyxem_transformer._validation import reciprocal_calibration
from pyxem_transformer.crystal.phase_io import diffsims_phase
from pyxem_transformer.evaluation import metrics
from pyxem_transformer.model.network import OrientationTransformer

__all__ = [
    "MethodResult",
    "median_of_runs",
    "run_template_matching",
    "run_transformer",
]


@dataclass
class MethodResult:
    """Speed and accuracy of one method on one sample.

    Attributes
    ----------
    name
        ``"transformer"`` or ``"template matching"``.
    settings
        The method's settings in words.
    seconds
        Wall time of the timed run, end to end.
    patterns_per_second
        Patterns divided by ``seconds``.
    accuracy
        Accuracy with the 180° about-the-beam twin counted as right.
    accuracy_strict
        Accuracy with the twin counted as wrong.
    peak_memory_mb
        Peak Python-side memory of a second run (None: not measured).
    xmap
        The orix ``CrystalMap`` the method produced.
    stages
        Patterns/s of each stage alone and tokens per pattern (transformer
        only).
    seconds_each
        Wall time of every timed run, where the method was run several times
        (``seconds`` is then their median; see :func:`median_of_runs`).
    """

    name: str
    settings: str
    seconds: float
    patterns_per_second: float
    accuracy: metrics.AccuracySummary
    accuracy_strict: metrics.AccuracySummary
    peak_memory_mb: float | None = None
    xmap: object = None
    stages: dict | None = None
    seconds_each: list[float] | None = None

    def row(self) -> dict:
        """Return the figures as a flat, JSON-ready dictionary.

        Returns
        -------
        row
            Method, settings, speed, accuracy and stage figures.
        """
        a, s = self.accuracy, self.accuracy_strict
        return {
            "method": self.name,
            "settings": self.settings,
            "seconds": self.seconds,
            "seconds_each": self.seconds_each or [self.seconds],
            "patterns_per_second": self.patterns_per_second,
            "median_misorientation": a.median_misorientation,
            "fraction_under_2": a.fraction_under_2,
            "fraction_under_5": a.fraction_under_5,
            "phase_accuracy": a.phase_accuracy,
            "median_zone_axis_error": a.median_zone_axis_error,
            "strict_median_misorientation": s.median_misorientation,
            "strict_fraction_under_5": s.fraction_under_5,
            "peak_memory_mb": self.peak_memory_mb,
            **(self.stages or {}),
        }


def _score(name, settings, seconds, n, xmap, truth, memory=None) -> MethodResult:
    return MethodResult(
        name=name,
        settings=settings,
        seconds=seconds,
        patterns_per_second=n / seconds,
        accuracy=metrics.compare_crystal_maps(xmap, truth, friedel=True).summary(),
        accuracy_strict=metrics.compare_crystal_maps(
            xmap, truth, friedel=False
        ).summary(),
        peak_memory_mb=memory,
        xmap=xmap,
    )


def median_of_runs(runs: list[MethodResult]) -> MethodResult:
    """Combine repeated runs of one method on one sample: the median time.

    The machine's speed drifts (other load, CPU frequency) by a quarter
    between runs minutes apart; timing each method several times, the runs
    interleaved, and keeping each method's median makes the ratio steadier.
    Accuracy, stages and memory are taken from the first run (the results
    are deterministic; only the time varies).

    Parameters
    ----------
    runs
        Results of the same method on the same sample.

    Returns
    -------
    result
        The first run with ``seconds`` the median of all and
        ``seconds_each`` every run's time.
    """
    seconds = [r.seconds for r in runs]
    median = float(np.median(seconds))
    first = runs[0]
    n = first.patterns_per_second * first.seconds
    return replace(
        first, seconds=median, patterns_per_second=n / median, seconds_each=seconds
    )


def template_library(
    phases, reciprocal_radius, max_excitation_error, step=1.0, voltage=200.0
):
    """Return the diffsims library template matching uses (see module notes)."""
    rotations = [
        get_sample_reduced_fundamental(resolution=step, point_group=p.point_group)
        for p in phases
    ]
    # As the data were simulated (right hexagonal intensities); the result's
    # phases are these copies, matched to the truth by name.
    phases = [diffsims_phase(p) for p in phases]
    return SimulationGenerator(voltage).calculate_diffraction2d(
        phases if len(phases) > 1 else phases[0],
        rotation=rotations if len(phases) > 1 else rotations[0],
        reciprocal_radius=reciprocal_radius,
        max_excitation_error=max_excitation_error,
        with_direct_beam=False,
    )


def run_template_matching(
    signal, truth, max_excitation_error: float, step: float = 1.0
) -> MethodResult:
    """Time and score pyxem template matching with its best settings.

    Parameters
    ----------
    signal
        The pyxem ``Diffraction2D`` to index.
    truth
        Ground-truth orix ``CrystalMap`` of the same scan.
    max_excitation_error
        The library's excitation-error cut-off in 1/Å (best: the data's).
    step
        Library step in degrees.

    Returns
    -------
    result
        Speed, accuracy and the crystal map.
    """
    phases = [truth.phases[i] for i in truth.phases.ids if i >= 0]
    radius = float(
        min(-a.offset for a in signal.axes_manager.signal_axes)
    )  # the largest |k| inside the detector
    library = template_library(phases, radius, max_excitation_error, step)
    n_best = 2 if len(phases) > 1 else 1
    settings = (
        f"library step {step} deg, max_excitation_error {max_excitation_error} 1/Å, "
        f"reciprocal_radius {radius:.2f} 1/Å, polar transform 100 radial x 360 "
        f"azimuthal bins over 0-{radius:.2f} 1/Å, n_best {n_best}"
    )

    def run(s):
        polar = s.get_azimuthal_integral2d(
            npt=100, radial_range=(0, radius), show_progressbar=False
        )
        result = polar.get_orientation(library, n_best=n_best, show_progressbar=False)
        return result.to_crystal_map()

    run(signal.inav[:2, :2])  # warm-up (compilation)
    start = time.perf_counter()
    xmap = run(signal)
    seconds = time.perf_counter() - start
    n = int(np.prod(signal.axes_manager.navigation_shape))
    return _score("template matching", settings, seconds, n, xmap, truth)


def run_transformer(
    signal,
    truth,
    model: OrientationTransformer,
    *,
    stages: bool = True,
    memory: bool = True,
    **kwargs,
) -> MethodResult:
    """Time and score the transformer end to end (peaks to CrystalMap).

    With ``stages``, also time peak finding, the model, and model plus
    refinement alone; with ``memory``, measure peak Python-side memory in a
    second, untimed run. Other keyword arguments go to
    ``get_orientation_map_transformer``.

    Parameters
    ----------
    signal
        The pyxem ``Diffraction2D`` to map (made lazy if it is not).
    truth
        Ground-truth orix ``CrystalMap`` of the same scan.
    model
        The model.
    stages
        Also time each stage alone.
    memory
        Also measure peak memory.
    **kwargs
        Passed to ``get_orientation_map_transformer``.

    Returns
    -------
    result
        Speed, accuracy, stage rates and the crystal map.
    """
    lazy = signal.as_lazy() if not signal._lazy else signal
    warm = lazy.inav[:2, :2]  # warm-up: compilation, first torch call
    # (too few patterns to check the calibration on: skip that there)
    warm.get_orientation_map_transformer(
        model, show_progressbar=False, **{**kwargs, "calibration_check": False}
    ).compute()
    start = time.perf_counter()
    result = lazy.get_orientation_map_transformer(
        model, show_progressbar=False, **kwargs
    )
    xmap = result.to_crystal_map()
    seconds = time.perf_counter() - start
    peak = None
    if memory:  # in a second, untimed run: tracing slows it
        tracemalloc.start()
        lazy.get_orientation_map_transformer(
            model, show_progressbar=False, **kwargs
        ).to_crystal_map()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    n = int(np.prod(signal.axes_manager.navigation_shape))
    rates = _stage_rates(signal, model) if stages else None
    settings = (
        f"model {'+'.join(p.name for p in model.phases)}, "
        f"{model.token_settings.n_tokens} tokens, d={model.config.d_model}, "
        f"{model.config.n_layers} layers, batched peak finder defaults"
        + {True: "", False: ", network only (refine=False)"}.get(
            kwargs.get("refine", True), f", refine={kwargs.get('refine')!r}"
        )
    )
    result = _score("transformer", settings, seconds, n, xmap, truth, peak)
    result.stages = rates
    return result


def _stage_rates(signal, model: OrientationTransformer) -> dict:
    """Patterns/s of each stage alone, on the same in-memory patterns.

    Also the mean number of tokens per pattern: the network's and the
    fit's cost grow with it, template matching's does not.
    """
    from pyxem_transformer.mapping.predict import predict_tokens
    from pyxem_transformer.tokens.peaks import find_peaks_batched
    from pyxem_transformer.tokens.tokenize import make_tokens

    scale, offset = reciprocal_calibration(signal)
    images = np.asarray(signal.data).reshape(-1, *signal.data.shape[-2:])
    n = images.shape[0]
    start = time.perf_counter()
    peaks = find_peaks_batched(images, tuple(scale), tuple(offset))
    rates = {"peak_finding_per_second": n / (time.perf_counter() - start)}
    tokens, mask = make_tokens(peaks, model.token_settings)
    rates["tokens_per_pattern"] = float(mask.sum(1).mean())
    for key, refine in [
        ("model_only_per_second", False),
        ("model_and_refine_per_second", True),
    ]:
        start = time.perf_counter()
        predict_tokens(model, tokens, mask, refine=refine, device="cpu")
        rates[key] = n / (time.perf_counter() - start)
    return rates
