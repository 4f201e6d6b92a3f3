"""Run the examples in the docstrings of every public course_utils module."""

import doctest
import importlib
import pkgutil

import pytest

import course_utils

MODULES = ["course_utils"] + sorted(
    m.name
    for m in pkgutil.walk_packages(course_utils.__path__, "course_utils.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    if result.attempted == 0:
        pytest.skip(f"{name} has no docstring examples")
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
