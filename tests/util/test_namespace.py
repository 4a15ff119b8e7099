"""Lazy package namespaces give the functions, not the submodules of the same name."""

import importlib
import inspect
import pkgutil

import pytest

import scratchlab

PACKAGES = [
    "scratchlab.util",
    "scratchlab.data",
    "scratchlab.experiments",
    "scratchlab.studies",
    "scratchlab.detect",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_exported_names_are_not_shadowed_by_submodules(package):
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        # importing a submodule sets it on the package
        importlib.import_module(f"{package}.{info.name}")
    for name in module.__all__:
        value = getattr(module, name)
        assert not inspect.ismodule(value), f"{package}.{name} is a module"


def test_version_is_exported():
    assert scratchlab.__version__
