"""Every public function, method and class has a numpydoc docstring that
documents its parameters and what it returns."""

import importlib
import inspect
import pkgutil

import pytest
from numpydoc.docscrape import ClassDoc
from numpydoc.validate import validate

import pyxem_transformer

# GL08: no docstring; PR01/PR02: parameters missing/unknown; RT01: no Returns;
# SS01: no summary.
CHECKS = {"GL08", "PR01", "PR02", "RT01", "SS01"}


def _public_objects():
    for info in pkgutil.walk_packages(pyxem_transformer.__path__, "pyxem_transformer."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                if obj.__module__ == module.__name__:
                    yield f"{info.name}.{name}", obj
                    if inspect.isclass(obj):
                        for attr, member in vars(obj).items():
                            if not attr.startswith("_") and inspect.isfunction(member):
                                yield f"{info.name}.{name}.{attr}", member


OBJECTS = dict(_public_objects())


def test_the_public_api_is_found():
    assert "pyxem_transformer.model.train.train_model" in OBJECTS
    assert len(OBJECTS) > 80


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_numpydoc_docstring(name):
    obj = OBJECTS[name]
    errors = [(c, m) for c, m in validate(name)["errors"] if c in CHECKS]
    if inspect.isclass(obj):
        # Classes document their fields as Attributes (dataclasses, named
        # tuples) or inherit hyperspy's constructor.
        errors = [(c, m) for c, m in errors if c != "PR01"]
        if "__init__" in vars(obj) and obj.__init__.__module__.startswith(
            "pyxem_transformer"
        ):
            doc = ClassDoc(obj)
            documented = {
                n.strip()
                for p in doc["Parameters"] + doc["Attributes"]
                for n in p.name.split(",")
            }
            params = [
                p
                for p in inspect.signature(obj).parameters
                if p not in ("args", "kwargs")
            ]
            missing = [p for p in params if p not in documented]
            assert not missing, f"{name}: fields not documented: {missing}"
    assert not errors, f"{name}: {errors}"
