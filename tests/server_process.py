"""A real ``newssearch serve`` process for tests, with the fake embedder:

    python tests/server_process.py INDEX [--port P] [--token T] [--cors ORIGIN]
        [--request-timeout SECONDS]

It listens on 127.0.0.1 (a free port unless ``--port``), prints ``serving ... at URL/ ...``
once it accepts connections, and stops on SIGINT or SIGTERM as the real command does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import FakeEmbedder  # noqa: E402

import search.index  # noqa: E402
from search import SearchError  # noqa: E402
from search.serve.http import serve  # noqa: E402
from search.serve.http_connection import REQUEST_TIMEOUT  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("index")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token")
    parser.add_argument("--cors", action="append", default=[])
    parser.add_argument("--request-timeout", type=float, default=REQUEST_TIMEOUT)
    args = parser.parse_args(argv)
    search.index.load_embedder = lambda model=None: FakeEmbedder(  # type: ignore[assignment]
        name=str(model) if model else "fake-hash"
    )
    try:
        serve(
            Path(args.index),
            port=args.port,
            token=args.token,
            cors_origins=args.cors,
            announce=lambda line: print(line, flush=True),
            request_timeout=args.request_timeout,
        )
    except SearchError as error:
        print(f"error: {error}", flush=True)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
