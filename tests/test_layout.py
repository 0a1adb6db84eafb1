"""The package layout: the public API, the old paths, the data-flow order of
the subpackages, and the size limits of modules and functions."""

import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

import pyxem_transformer as pxt
from pyxem_transformer import _moved

PACKAGE = Path(pxt.__file__).parent

#: Every name ``import pyxem_transformer as pxt`` offered before the move.
TOP_LEVEL = [
    "ModelConfig",
    "OrientationTransformer",
    "__version__",
    "check_calibration",
    "data",
    "load_model",
    "metrics",
    "phase_from_cif",
    "phase_io",
    "phases",
    "preprocess",
    "pretrained",
    "train_model",
]

#: Stages in data-flow order; a stage imports only from earlier ones (and
#: from the package root's shared modules).
STAGES = ["crystal", "simulation", "tokens", "model", "mapping", "signals"]


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_every_public_name_stays_at_the_top(name):
    assert name in pxt.__all__
    assert getattr(pxt, name) is not None


def test_subpackages_export_what_they_name():
    for package in [*STAGES, "evaluation", "io"]:
        module = importlib.import_module(f"pyxem_transformer.{package}")
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, f"{package}: {missing}"


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_old_paths_import_with_a_deprecation_warning(old):
    name = f"pyxem_transformer.{old}"
    sys.modules.pop(name, None)
    with pytest.warns(DeprecationWarning, match=_moved.MOVED[old][0]):
        module = importlib.import_module(name)
    public = set()
    for target in _moved.MOVED[old]:
        public.update(getattr(importlib.import_module(target), "__all__", ()))
    assert public and all(getattr(module, n) is not None for n in public)
    with pytest.raises(AttributeError, match="moved to"):
        module.no_such_name  # noqa: B018


def test_old_names_resolve_to_the_new_objects():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyxem_transformer.predict import prior_sigma, resolve_device
        from pyxem_transformer.refine import missing_reflections, wavelength
        from pyxem_transformer.train import validation_figures

    from pyxem_transformer.crystal import wavelength as new_wavelength
    from pyxem_transformer.mapping import missing_reflections as new_missing
    from pyxem_transformer.mapping import prior_sigma as new_prior
    from pyxem_transformer.model import resolve_device as new_device
    from pyxem_transformer.model.validation import validation_figures as new_figures

    assert wavelength is new_wavelength and missing_reflections is new_missing
    assert prior_sigma is new_prior and resolve_device is new_device
    assert validation_figures is new_figures
    sys.modules.pop("pyxem_transformer.train", None)
    vars(pxt).pop("train", None)  # set by the import above
    with pytest.warns(DeprecationWarning):
        assert pxt.train.train_model is pxt.train_model


def test_kept_aliases_are_the_moved_modules_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        import pyxem_transformer.phases as old_phases
        from pyxem_transformer.data import simulated_grains

    assert old_phases is pxt.crystal.phases is pxt.phases
    assert simulated_grains is pxt.evaluation.simulated_grains


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("pyxem_transformer.")}


def test_stages_import_only_earlier_stages():
    upward = []
    for path in _modules():
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2 or parts[0] not in STAGES:
            continue
        own = STAGES.index(parts[0])
        for name in _imported(path):
            stage = name.split(".")[1]
            if stage in STAGES and STAGES.index(stage) > own:
                upward.append(f"{path.relative_to(PACKAGE)} imports {name}")
            assert stage != "evaluation", f"{path} imports the evaluation code"
    assert not upward, upward


#: Compiled numba kernels may run long: one pattern's whole fit is one
#: function, so that it stays in registers and cache.
KERNEL_FILES = {"_fit_kernel.py", "_peak_kernels.py"}


def _body_lines(node) -> int:
    """Lines of a function without its signature and docstring."""
    body = node.body
    first = body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and len(body) > 1
    ):
        first = body[1]
    return node.end_lineno - first.lineno + 1


def test_modules_and_functions_stay_small():
    too_long = []
    for path in _modules():
        if path.name in KERNEL_FILES:
            continue
        source = path.read_text()
        if source.count("\n") > 400:
            too_long.append(f"{path.name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if _body_lines(node) > 60:
                    too_long.append(f"{path.name}:{node.name}: {_body_lines(node)}")
    assert not too_long, too_long
