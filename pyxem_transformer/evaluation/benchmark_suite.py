"""The side-by-side benchmark suite: every case, both methods, one run.

``pyxem-transformer benchmark [--cases ...] [--quick] --out DIR`` runs
:func:`run_suite`. Each :class:`Case` simulates a grain map with known
orientations (fixed seed), maps it with a shipped model and with pyxem
template matching (:mod:`pyxem_transformer.evaluation.benchmark`, best settings named
in the report), and scores both against the truth. The report gives, per
case, both methods' end-to-end patterns/s and their ratio, the
transformer's stage rates (peak finding, model, model + refinement), tokens
per pattern and peak Python-side memory, and the accuracy table.
"""

import json
import logging
import platform
import time
from dataclasses import asdict
from pathlib import Path

from pyxem_transformer.crystal import phases
from pyxem_transformer.evaluation import data
from pyxem_transformer.evaluation.benchmark import (
    MethodResult,
    median_of_runs,
    run_template_matching,
    run_transformer,
)
from pyxem_transformer.evaluation.cases import CASES, NEEDS_ABTEM, QUICK_CASES, Case
from pyxem_transformer.evaluation.dynamical import dynamical_grains
from pyxem_transformer.evaluation.measured import realistic_grains
from pyxem_transformer.evaluation.quality import confidence_auc, judge_fit_quality
from pyxem_transformer.model.zoo import pretrained

__all__ = ["CASES", "QUICK_CASES", "Case", "run_case", "run_suite"]


def _sample(case: Case, scan: int, seed: int):
    model = pretrained(case.model)
    phase_list = [phases.by_name(p.name.lower()) for p in model.phases]
    n_grains = case.n_grains or max(2, scan * scan // 100)
    if case.physics != "kinematic":
        signal, truth = dynamical_grains(
            phase_list,
            (scan, scan),
            thickness=case.thickness,
            dose=case.dose,
            precession_angle=(
                case.precession_angle if case.physics == "precession" else None
            ),
            max_excitation_error=case.excitation_error,
            n_grains=n_grains,
            seed=seed,
        )
        return model, signal, truth
    if case.measured:
        signal, truth = realistic_grains(
            phase_list,
            (scan, scan),
            dose=case.dose,
            max_excitation_error=case.excitation_error,
            n_grains=n_grains,
            seed=seed,
        )
        return model, signal, truth
    signal, truth = data.simulated_grains(
        phase_list,
        scan_shape=(scan, scan),
        dose=case.dose,
        max_excitation_error=case.excitation_error,
        n_grains=n_grains,
        seed=seed,
    )
    for axis in signal.axes_manager.signal_axes:
        axis.offset += case.centre_offset_px * axis.scale
        axis.scale *= 1 + case.scale_error
        axis.offset *= 1 + case.scale_error
    return model, signal, truth


def run_case(
    case: Case,
    scan: int = 64,
    library_steps=(1.0,),
    seed: int = 0,
    repeats: int = 1,
) -> list[MethodResult]:
    """Run one case: the transformer, then template matching per library step.

    Parameters
    ----------
    case
        The case.
    scan
        The scan is ``scan x scan`` patterns of 128 x 128 pixels.
    library_steps
        Template matching library steps in degrees.
    seed
        Seed of the simulated sample.
    repeats
        Time the transformer (with and without the fit) and template
        matching at the first library step this many times, interleaved,
        and keep each one's median
        (:func:`~pyxem_transformer.evaluation.benchmark.median_of_runs`); the other
        library steps run once.

    Returns
    -------
    results
        The transformer's result first, then template matching's per library
        step, then the transformer's network alone (``refine=False``).

    Raises
    ------
    ValueError
        If ``repeats`` is not a positive integer.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be a positive integer, got {repeats!r}.")
    model, signal, truth = _sample(case, scan, seed)
    library = case.library_excitation_error or case.excitation_error
    runs = [[] for _ in range(len(library_steps) + 2)]
    for i in range(repeats):
        first = i == 0
        runs[0].append(
            run_transformer(
                signal, truth, model, stages=first, memory=first, refine=case.refine
            )
        )
        for j, step in enumerate(library_steps):
            if first or j == 0:
                runs[1 + j].append(run_template_matching(signal, truth, library, step))
        runs[-1].append(
            run_transformer(
                signal, truth, model, stages=False, memory=False, refine=False
            )
        )
    results = [median_of_runs(r) for r in runs]
    for result in results[:2]:  # ours and template matching, judged alike
        figures = judge_fit_quality(result.xmap, signal, model, truth)
        result.stages = {
            **(result.stages or {}),
            "explained_median": figures["explained_median"],
            "quality_auc": figures["quality_auc"],
        }
    # Our own reliability figure: the network's calibrated confidence.
    results[0].stages["confidence_auc"] = confidence_auc(results[0].xmap, truth)
    return results


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| case | method | patterns/s | speed-up | median (deg) | < 2 deg | < 5 deg "
        "| phase | strict < 5 deg | explained | quality AUC | confidence AUC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        quality = (
            f"{r['explained_median']:.2f} | {r['quality_auc']:.2f}"
            if "explained_median" in r
            else "- | -"
        )
        if "confidence_auc" in r:
            quality += f" | {r['confidence_auc']:.2f}"
        else:
            quality += " | -"
        lines.append(
            f"| {r['case']} | {r['method']} | {r['patterns_per_second']:.0f} "
            f"| {r['speed_up']:.1f}x | {r['median_misorientation']:.2f} "
            f"| {r['fraction_under_2']:.0%} | {r['fraction_under_5']:.0%} "
            f"| {r['phase_accuracy']:.1%} | {r['strict_fraction_under_5']:.0%} "
            f"| {quality} |"
        )
    return lines


def run_suite(
    cases=None,
    *,
    scan: int = 64,
    library_steps=(1.0,),
    seed: int = 0,
    repeats: int = 1,
    out: str | Path | None = None,
    verbose: bool = True,
) -> dict:
    """Run benchmark cases and write ``report.md``, ``report.json`` and figures.

    Parameters
    ----------
    cases
        Case names (keys of :data:`CASES`); None: all.
    scan
        Scan side in patterns.
    library_steps
        Template matching library steps in degrees.
    seed
        Seed of every simulated sample.
    repeats
        Timed runs per method (see :func:`run_case`); the median counts.
    out
        Folder for the reports and one ``<case>.png`` per case; None: none.
    verbose
        Print progress and the table.

    Returns
    -------
    report
        The content of ``report.json``.

    Raises
    ------
    ValueError
        If a case name is unknown.
    """
    from pyxem_transformer.evaluation.demo import _figure

    names = list(CASES) if not cases else list(cases)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f"Unknown case(s) {unknown}; choose from {list(CASES)}.")
    logging.getLogger("hyperspy").setLevel(logging.ERROR)
    say = print if verbose else (lambda *a, **k: None)
    if not cases and not _has_abtem():
        names = [n for n in names if n not in NEEDS_ABTEM]
        say(
            f"Skipping {', '.join(NEEDS_ABTEM)}: they need abTEM "
            '(pip install "pyxem-transformer[dynamical]").'
        )
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
    if any(CASES[n].physics != "kinematic" for n in names):
        say(ACOM_NOTE)
    rows, started = [], time.perf_counter()
    for i, name in enumerate(names, 1):
        case = CASES[name]
        say(f"[{i}/{len(names)}] {name}: {case.describe()}")
        results = run_case(case, scan, library_steps, seed, repeats)
        for row in _case_rows(name, case, results, library_steps):
            rows.append(row)
            say(row["_line"])
            del row["_line"]
        if out is not None:
            _, _, truth = _sample(case, scan, seed)
            _figure(out / f"{name}.png", truth, results[:2])
    machine = (
        f"{platform.processor() or platform.machine()}, "
        f"{_cpu_count()} CPU cores, {platform.python_version()}"
    )
    text = _report_text(
        rows, names, scan, seed, repeats, machine, time.perf_counter() - started
    )
    report = {
        "machine": machine,
        "scan": scan,
        "seed": seed,
        "repeats": repeats,
        "rows": rows,
    }
    if out is not None:
        (out / "report.md").write_text(text)
        (out / "report.json").write_text(json.dumps(report, indent=1, default=str))
    say(text)
    return report


def _case_rows(name: str, case, results, library_steps) -> list[dict]:
    """Report rows of one case's results, each with its progress line."""
    base = results[1].patterns_per_second
    labels = (
        ["transformer"]
        + [f"template matching, {step:g}° library" for step in library_steps]
        + ["transformer, network only"]
    )
    rows = []
    for r, label in zip(results, labels, strict=True):
        row = dict(r.row(), case=name, speed_up=r.patterns_per_second / base)
        row["method"] = label
        row["case_settings"] = asdict(case)
        row["_line"] = (
            f"    {label}: {r.patterns_per_second:.0f}/s, median "
            f"{r.accuracy.median_misorientation:.2f} deg, "
            f"{r.accuracy.fraction_under_5:.0%} < 5 deg"
        )
        rows.append(row)
    return rows


def _report_text(rows, names, scan, seed, repeats, machine, seconds) -> str:
    """The Markdown report of a suite run."""
    settings = sorted({f"- {r['method']}: {r['settings']}" for r in rows})
    lines = [
        "# Benchmark: transformer vs pyxem template matching",
        "",
        f"Machine: {machine}. Scan {scan}x{scan} patterns of 128x128 pixels at "
        f"0.02 1/Å per pixel, disks sigma 2 px, seed {seed}; "
        f"{seconds:.0f} s in all.",
        "",
        *_table(rows),
        "",
        "Cases:",
        *[f"- {n}: {CASES[n].describe()} (model `{CASES[n].model}`)" for n in names],
        "",
        "Settings:",
        *settings,
        "",
        "Speed: end to end from the Diffraction2D to an orix CrystalMap, after "
        "warm-up, both methods in one process on the same data; speed-up is "
        "relative to the first template-matching row of the case. "
        + (
            f"Each method's time is the median of {repeats} interleaved runs "
            "(every run's seconds are in report.json); template matching at "
            "further library steps ran once. "
            if repeats > 1
            else ""
        )
        + "Accuracy: "
        "symmetry-reduced misorientation to the truth; the 180° about-the-beam "
        "twin of a zero-order pattern counts as right ('strict' counts it "
        "wrong); a wrong phase counts as a failure. Fit quality (no ground "
        "truth needed): 'explained' is the median fraction of each pattern's "
        "tokens that its answer explains, computed alike for both methods on "
        "the same tokens; 'quality AUC' is how well that figure ranks pixels "
        "under 5 deg above the others (ROC AUC); 'confidence AUC' ranks them "
        "by the transformer's own calibrated confidence instead.",
        "",
        "Transformer stages alone (patterns/s), mean tokens per pattern (the "
        "model's and the fit's cost grow with them) and peak Python-side memory:",
        "",
        "| case | peak finding | model | model + refinement | tokens/pattern "
        "| memory (MB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r["method"] == "transformer":
            lines.append(
                f"| {r['case']} | {r['peak_finding_per_second']:.0f} "
                f"| {r['model_only_per_second']:.0f} "
                f"| {r['model_and_refine_per_second']:.0f} "
                f"| {r['tokens_per_pattern']:.1f} | {r['peak_memory_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"


#: Why py4DSTEM's ACOM is not a third method (issue 23 asked for it where it
#: can run beside us).
ACOM_NOTE = (
    "note: py4DSTEM's ACOM is not run: py4DSTEM 0.14.18 pins numpy < 2, so it "
    "would need an environment of its own that this benchmark does not build; "
    "its figures on dynamical Cu (median 6-16 deg) are quoted in docs/benchmark.md."
)


def _has_abtem() -> bool:
    try:
        import abtem.bloch  # noqa: F401
    except ImportError:
        return False
    return True


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
