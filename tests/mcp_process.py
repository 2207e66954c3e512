"""A real ``newssearch mcp`` process for tests, with the fake embedder:

    python tests/mcp_process.py INDEX

It serves MCP over stdio, as the real command does, until the client closes stdin; a
``SearchError`` that stops it is one line on stderr and the error's exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The checkout this file is in, whatever the environment: the SDK's stdio client starts a
# server with a bare environment (no PYTHONPATH), which would import an installed copy.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from fakes import FakeEmbedder  # noqa: E402

import search.index  # noqa: E402
from search import SearchError  # noqa: E402
from search.serve.mcp_tools import run  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: mcp_process.py INDEX", file=sys.stderr)
        return 2
    search.index.load_embedder = lambda model=None: FakeEmbedder(
        name=str(model) if model else "fake-hash"
    )
    try:
        run(Path(argv[0]))
    except SearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
