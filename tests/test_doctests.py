"""The examples in docstrings are true."""

import doctest
import importlib

import pytest

MODULES = ["chunking", "evaluation", "fusion", "highlight", "lexical", "store"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"search.{name}")
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
