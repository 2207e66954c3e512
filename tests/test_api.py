"""The public API is what `search.__all__` says, and nothing leaks by accident.

Derived, not copied (as httpx's tests/test_exported_members.py does): the export list is
checked against what search/__init__.py serves and against the package's own modules, so
adding a name means adding it in one place, search/__init__.py, and nowhere here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import types
from pathlib import Path

import pytest

import search

LAZY = {name for names in search._HOMES.values() for name in names}


def test_every_exported_name_resolves_to_its_home_modules_object() -> None:
    for name in search.__all__:
        assert hasattr(search, name), name
    for module, names in search._HOMES.items():
        home = importlib.import_module(f"search.{module}")
        for name in names:
            assert getattr(search, name) is getattr(home, name), (name, module)


def test_the_export_list_is_sorted_and_is_what_the_package_serves() -> None:
    assert search.__all__ == sorted(set(search.__all__))
    assert set(search.__all__) == LAZY | {"__version__"}
    assert set(search._HOME_OF) == LAZY  # no name in two homes
    listed = {n for n in dir(search) if not n.startswith("_")}
    assert {n for n in listed if not isinstance(getattr(search, n), types.ModuleType)} == LAZY


def test_the_type_checkers_imports_are_the_lazy_ones() -> None:
    """mypy reads the ``if TYPE_CHECKING:`` imports; the package serves _HOMES: the same
    names from the same modules."""
    tree = ast.parse(Path(search.__file__).read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If)]
    imported = {
        (node.module, alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    served = {(f"search.{module}", n) for module, names in search._HOMES.items() for n in names}
    assert imported == served


def _modules() -> list[types.ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages(search.__path__, "search.")
        if not info.name.endswith("__main__")
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def test_every_error_a_module_exports_is_exported_by_the_package() -> None:
    """A caller catches what any part of the package raises as ``search.SomethingError``."""
    missing = {
        f"{module.__name__}.{name}"
        for module in _modules()
        for name in getattr(module, "__all__", ())
        if inspect.isclass(value := getattr(module, name))
        and issubclass(value, search.SearchError)
        and getattr(search, name, None) is not value
    }
    assert not missing, f"exported by their modules but not by search: {sorted(missing)}"


def test_every_public_name_of_the_module_is_exported() -> None:
    """Derived from the module itself: a public name that is not in __all__ fails."""
    for name in search.__all__:  # the package imports its names on first use
        getattr(search, name)
    public = {
        name
        for name, value in vars(search).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(search.__all__) - {"__version__"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        search.Nothing  # noqa: B018


def test_every_error_is_a_search_error_with_its_own_exit_code() -> None:
    errors = [getattr(search, n) for n in search.__all__ if n.endswith("Error")]
    assert all(issubclass(e, search.SearchError) for e in errors)
    codes = [e.exit_code for e in errors if e is not search.SearchError]
    assert len(codes) == len(set(codes)) and 1 not in codes


@pytest.mark.process
def test_starting_the_cli_imports_no_heavy_library() -> None:
    """Every command starts by importing the package: a library imported at module level
    there costs every command (datasketch brought scipy: 0.6 s), so each waits for its use."""
    import subprocess
    import sys

    heavy = (
        "scipy",
        "datasketch",
        "feedparser",
        "warcio",
        "trafilatura",
        "torch",
        "sentence_transformers",
        "yaml",
        "faiss",
        "tantivy",
        "onnxruntime",
    )
    listed = f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    code = f"import sys, search.cli.commands; {listed}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
