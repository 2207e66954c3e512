"""The examples in docstrings are true: every module of the package that has one is run."""

import doctest
import importlib
import pkgutil

import pytest

import search

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(search.__path__, "search.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.failed == 0


def test_modules_with_examples_run_them() -> None:
    attempted = [
        name for name in MODULES if doctest.testmod(importlib.import_module(name)).attempted
    ]
    assert {"search.ingest.chunking", "search.query.fusion", "search.storage.database"} <= set(
        attempted
    )
