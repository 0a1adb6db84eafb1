"""Module paths of 0.1 and earlier, when the package was one flat folder.

``pyxem_transformer.phases``, ``.phase_io``, ``.data`` and ``.metrics`` stay
public (they are the same modules as ``crystal.phases``, ``crystal.phase_io``,
``evaluation.data`` and ``evaluation.metrics``). Every other old path still
imports for one release, with a :class:`DeprecationWarning` that names the
new home; its names are looked up in the new modules, in order.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

_P = "pyxem_transformer"

#: Old public paths that stay, as aliases of the modules that moved.
ALIASES = {
    "data": f"{_P}.evaluation.data",
    "metrics": f"{_P}.evaluation.metrics",
    "phase_io": f"{_P}.crystal.phase_io",
    "phases": f"{_P}.crystal.phases",
}

#: Deprecated old paths and the modules that now hold their names.
MOVED = {
    "augment": (f"{_P}.tokens.augment",),
    "benchmark": (f"{_P}.evaluation.benchmark",),
    "benchmark_suite": (f"{_P}.evaluation.benchmark_suite",),
    "calibration": (f"{_P}.tokens.calibration", f"{_P}.tokens.checks"),
    "cif": (f"{_P}.crystal.cif",),
    "demo": (f"{_P}.evaluation.demo",),
    "domain_gap": (f"{_P}.evaluation.domain_gap",),
    "inference": (f"{_P}.mapping.inference",),
    "markers": (f"{_P}.mapping.markers",),
    "model_zoo": (f"{_P}.model.zoo",),
    "peaks": (f"{_P}.tokens.peaks",),
    "predict": (
        f"{_P}.mapping.predict",
        f"{_P}.mapping.prior",
        f"{_P}.mapping._fit_choice",
        f"{_P}.model.device",
    ),
    "preprocessing": (f"{_P}.tokens.preprocessing",),
    "refine": (
        f"{_P}.mapping.refine",
        f"{_P}.mapping.missing",
        f"{_P}.crystal.reciprocal",
    ),
    "rotations": (f"{_P}.model.rotations",),
    "signal_methods": (f"{_P}.signals.diffraction2d",),
    "train": (f"{_P}.model.train", f"{_P}.model.validation"),
}


class _MovedModule(types.ModuleType):
    """Stands in for an old module: reads every name from its new homes."""

    def __init__(self, name: str, targets: tuple[str, ...]) -> None:
        super().__init__(name, f"Moved to {', '.join(targets)}.")
        self._targets = targets

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        for target in self._targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(
            f"module {self.__name__!r} (moved to {self._targets[0]}) has no "
            f"attribute {name!r}"
        )

    def __dir__(self) -> list[str]:
        names = set()
        for target in self._targets:
            names.update(getattr(importlib.import_module(target), "__all__", ()))
        return sorted(names)


def _caller_stacklevel() -> int:
    """Stack level of the first frame outside importlib and this module."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_code.co_filename == __file__
    ):
        frame, level = frame.f_back, level + 1
    return level


def warn_moved(old: str) -> None:
    """Warn that ``pyxem_transformer.<old>`` moved, naming its new home."""
    new = MOVED[old][0]
    warnings.warn(
        f"`{_P}.{old}` moved to `{new}` after pyxem-transformer 0.1 (its public "
        f"names are also in `{new.rsplit('.', 1)[0]}`); the old path will be "
        "removed in the next release.",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the old paths of :data:`MOVED` as :class:`_MovedModule`."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, old = fullname.rpartition(".")
        if package == _P and old in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        old = spec.name.rpartition(".")[2]
        warn_moved(old)
        return _MovedModule(spec.name, MOVED[old])

    def exec_module(self, module) -> None:
        pass


def install() -> None:
    """Register the aliases and the finder of the old paths (once)."""
    for old, new in ALIASES.items():
        sys.modules.setdefault(f"{_P}.{old}", importlib.import_module(new))
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
