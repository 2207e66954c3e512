"""The public API is what `search.__all__` says, and nothing leaks by accident."""

import search


def test_public_api_is_pinned() -> None:
    assert search.__all__ == [
        "Article",
        "ArticleDetail",
        "ArticleNotFoundError",
        "CheckReport",
        "DEFAULT_MODEL",
        "Embedder",
        "Hit",
        "Index",
        "IndexCorruptError",
        "IndexLockedError",
        "IndexNotFoundError",
        "IndexStats",
        "IndexVersionError",
        "IndexWriteError",
        "InputError",
        "MAX_K",
        "MODES",
        "ModelError",
        "ModelMismatchError",
        "Passage",
        "QueryError",
        "RemoveReport",
        "SearchError",
        "Searcher",
        "Settings",
        "Skip",
        "UNITS",
        "UpdateReport",
        "__version__",
        "index_files",
        "load_embedder",
    ]
    for name in search.__all__:
        assert hasattr(search, name), name
    assert set(search._HOME_OF) | {"__version__"} == set(search.__all__)


def test_every_public_name_of_the_module_is_exported() -> None:
    """Derived from the module itself: a public name that is not in __all__ fails."""
    import types

    for name in search.__all__:  # the package imports its names on first use
        getattr(search, name)
    public = {
        name
        for name, value in vars(search).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(search.__all__) - {"__version__"}


def test_every_error_is_a_search_error_with_its_own_exit_code() -> None:
    errors = [getattr(search, n) for n in search.__all__ if n.endswith("Error")]
    assert all(issubclass(e, search.SearchError) for e in errors)
    codes = [e.exit_code for e in errors if e is not search.SearchError]
    assert len(codes) == len(set(codes)) and 1 not in codes


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
