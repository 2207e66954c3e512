"""The ``newssearch`` command: a thin layer that parses arguments, makes one library call
and formats what comes back."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from search.cli import output
from search.domain.text import is_text, not_text
from search.errors import InputError, SearchError
from search.query.contract import (
    CLI,
    MODES,
    PERIODS,
    SORTS,
    SPLITS,
    UNITS,
    SearchRequest,
    checked_article_id,
    checked_k,
)
from search.serve.export import FORMATS

if TYPE_CHECKING:
    from search.index import Counted, IndexStats

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Semantic search over news articles: index folders of articles, then query them.",
)

IndexOption = Annotated[
    Path,
    typer.Option(
        "--index", "-i", envvar="NEWSSEARCH_INDEX", help="The index folder.", show_default=True
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="A sentence-transformers model name or local folder "
        "(default: the packaged all-MiniLM-L6-v2).",
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


# The choices typer offers are the contract's own vocabularies
Mode = StrEnum("Mode", {name: name for name in MODES})  # type: ignore[misc]
Unit = StrEnum("Unit", {name: name for name in UNITS})  # type: ignore[misc]
Sort = StrEnum("Sort", {name: name for name in SORTS})  # type: ignore[misc]
Period = StrEnum("Period", {name: name for name in PERIODS})  # type: ignore[misc]
Split = StrEnum("Split", {name: name for name in SPLITS})  # type: ignore[misc]
Format = StrEnum("Format", {name: name for name in FORMATS})  # type: ignore[misc]
_HYBRID, _PASSAGE, _RELEVANCE = Mode("hybrid"), Unit("passage"), Sort("relevance")
_WEEK, _CSV = Period("week"), Format("csv")

# What narrows a query, the same in every command that takes one
ModeOption = Annotated[Mode, typer.Option("--mode", help="How to match.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Published on or after this day (YYYY-MM-DD).")
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Published on or before this day.")
]
SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="From this outlet (repeat: any of them).")
]
WhereOption = Annotated[
    list[str] | None,
    typer.Option("--where", help="FIELD=VALUE, e.g. topics=crude (repeat: all must hold)."),
]
CollectionOption = Annotated[
    list[str] | None,
    typer.Option("--collection", help="From this collection (repeat: any of them)."),
]
EveryCopyOption = Annotated[
    bool, typer.Option("--all", help="Count every copy of a wire story, not one.")
]
SortOption = Annotated[
    Sort,
    typer.Option(
        "--sort", help="relevance (best first), or the matching articles newest or oldest first."
    ),
]


class Engine(StrEnum):
    local = "local"
    ray = "ray"


@contextlib.contextmanager
def _reported(interrupted: str = output.INDEX_KEPT) -> Iterator[None]:
    """Turn errors into one line on stderr and the error's exit code."""
    try:
        yield
    except SearchError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted — {interrupted}", err=True)
        raise typer.Exit(130) from None


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders of articles.")],
    index: IndexOption = Path("index"),
    model: ModelOption = None,
    quiet: QuietOption = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every skip.")] = False,
    keep_missing: Annotated[
        bool, typer.Option("--keep-missing", help="Keep articles whose files are gone.")
    ] = False,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            help="The collection these articles fill (default: each path's folder or file "
            "name). Ids are unique within a collection.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            metavar="GLOB",
            help="Leave out what this gitignore-style pattern matches, relative to each folder "
            "(repeat for several; a .newssearchignore file in a folder does the same).",
        ),
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option("--follow-links", help="Follow links that lead out of the folders given."),
    ] = False,
    compact: Annotated[
        bool | None,
        typer.Option(
            "--compact/--full",
            help="For a new index: store vectors as 8-bit scalars, a quarter of the memory, "
            "for a little recall (docs/SCALE.md). Default: full.",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option("--engine", help="Where reading and embedding run: here, or on Ray."),
    ] = Engine.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            envvar="RAY_ADDRESS",
            help="The Ray cluster (default: a local one, started for this run).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Ray: embedding actors (a local cluster's CPUs)."),
    ] = None,
) -> None:
    """Index articles (.txt .md .json[l][.gz] .html, RSS/Atom feeds, .warc[.gz]); only new
    or changed ones are embedded, and articles whose files are gone are removed."""
    from search.index import index_files

    with _reported(), contextlib.ExitStack() as stack:
        cluster = None
        if engine is Engine.ray:
            from search.scale.ray_build import RayEngine

            cluster = stack.enter_context(RayEngine(ray_address, workers))
        with _progress(quiet) as progress:
            report = index_files(
                index,
                paths,
                model=model,
                compact=compact,
                keep_missing=keep_missing,
                collection=collection,
                exclude=exclude or (),
                follow_links=follow_links,
                progress=progress,
                engine=cluster,
            )
        if quiet:
            return
        typer.echo(
            f"{', '.join(str(p) for p in paths)}: {report.added} added, {report.updated} "
            f"updated, {report.removed} removed, {report.unchanged} unchanged; "
            f"{report.passages_embedded} passages embedded in {report.seconds:.1f}s"
            + (
                f"; {report.unparsed_dates} kept without a date (theirs could not be read)"
                if report.unparsed_dates
                else ""
            )
        )
        typer.echo(output.formats_line(report.files_by_format, report.articles_by_format))
        for line in output.left_out_lines(report, verbose):
            typer.echo(line, err=True)
        if report.conflicts:
            # Never silent: which id, kept from which file, lost by which (docs/cli.md)
            key, kept, other = report.conflicts[0]
            more = len(report.conflicts) - 1
            typer.echo(
                f"{len(report.conflicts)} id conflicts in a collection: {key} is in both "
                f"{kept} (kept) and {other} (not indexed)"
                + (f", and {more} more (-v lists them)" if more and not verbose else ""),
                err=True,
            )
        if report.skipped:
            counts = ", ".join(f"{n} {reason}" for reason, n in report.skip_counts().items())
            typer.echo(f"skipped {len(report.skipped)}: {counts}", err=True)
            for skip in report.skipped if verbose else ():
                detail = f" ({skip.detail})" if skip.detail else ""
                typer.echo(f"  {skip.reason}: {skip.path}{detail}", err=True)


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="What to search for (syntax: docs/cli.md).")],
    index: IndexOption = Path("index"),
    top: Annotated[int, typer.Option("--top", "-k", help="How many hits.")] = 10,
    mode: Annotated[Mode, typer.Option("--mode", help="How to rank.")] = _HYBRID,
    by: Annotated[
        Unit, typer.Option("--by", help="Rank passages, or articles (one hit each).")
    ] = _PASSAGE,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    where: WhereOption = None,
    every_copy: Annotated[
        bool, typer.Option("--all", help="Show every copy of a wire story, not one.")
    ] = False,
    collection: CollectionOption = None,
    sort: SortOption = _RELEVANCE,
    offset: Annotated[
        int, typer.Option("--offset", help="Skip this many hits (the next page).")
    ] = 0,
    facets: Annotated[
        bool,
        typer.Option(
            "--facets", help="Then count the matching articles by outlet, collection, field."
        ),
    ] = False,
    json_lines: JsonOption = False,
    model: ModelOption = None,
) -> None:
    """Print the passages (or articles) that best answer TEXT, best first (or by date)."""
    from search.index import Index

    with _reported():
        request = _request(
            text,
            mode,
            since=since,
            until=until,
            source=source,
            where=where,
            every_copy=every_copy,
            collection=collection,
            k=top,
            by=by.value,
            sort=sort.value,
            offset=offset,
        )
    with _reported(), Index.open(index, model=model) as ix:
        hits = ix.search(request)
        rows = [dataclasses.asdict(hit) for hit in hits]
        counted = dataclasses.asdict(ix.facets(request)) if facets else None
        if json_lines:
            output.print_json(rows)
            if counted is not None:  # the one line that is not a hit: docs/cli.md
                output.print_json([{"facets": counted}])
            return
        if rows:
            output.print_hits(rows, text)
        else:
            filtered = request.only is not None
            articles = ix.stats().articles
            line = output.no_hits_line(str(index), articles, filtered, request.offset)
            typer.echo(line, err=True)
        if counted is not None:
            output.print_facets(counted)


@app.command()
def timeline(
    text: Annotated[str, typer.Argument(help="What to count (syntax: docs/cli.md).")],
    index: IndexOption = Path("index"),
    every: Annotated[
        Period, typer.Option("--every", help="Count by day, week (from Monday) or month.")
    ] = _WEEK,
    split: Annotated[Split | None, typer.Option("--split", help="Count each outlet apart.")] = None,
    mode: ModeOption = _HYBRID,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    where: WhereOption = None,
    every_copy: EveryCopyOption = False,
    collection: CollectionOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV: a header, a row a period.")] = False,
    model: ModelOption = None,
) -> None:
    """Count the articles matching TEXT in each day, week or month, beside all articles.

    Each period's count of matching articles, the count of all articles published in it
    within the same filters, and their ratio."""
    from search.index import Index

    with _reported():
        if json_out and csv_out:
            raise InputError("--json and --csv: choose one")
        request = _request(
            text,
            mode,
            since=since,
            until=until,
            source=source,
            where=where,
            every_copy=every_copy,
            collection=collection,
        )
    with _reported(), Index.open(index, model=model) as ix:
        counted = ix.timeline(request, every=every.value, split=split and split.value)
    found = dataclasses.asdict(counted)
    if json_out:
        typer.echo(json.dumps(found, ensure_ascii=False))
    elif csv_out:
        output.print_timeline_csv(found)
    else:
        output.print_timeline(found)


@app.command()
def export(
    text: Annotated[str, typer.Argument(help="What to export (syntax: docs/cli.md).")],
    index: IndexOption = Path("index"),
    form: Annotated[
        Format, typer.Option("--format", help="CSV with a header row, or JSON lines.")
    ] = _CSV,
    sort: SortOption = _RELEVANCE,
    mode: ModeOption = _HYBRID,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    where: WhereOption = None,
    every_copy: EveryCopyOption = False,
    collection: CollectionOption = None,
    to: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write this file, whole or not at all (default: stdout)."
        ),
    ] = None,
    model: ModelOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write every article matching TEXT as CSV or JSON lines, one row each.

    Its id, collection, date, outlet, title, url, best passage and relevance."""
    from search.index import Index
    from search.serve.export import export_text

    with _reported():
        request = _request(
            text,
            mode,
            since=since,
            until=until,
            source=source,
            where=where,
            every_copy=every_copy,
            collection=collection,
            sort=sort.value,
        )
    with _reported(), Index.open(index, model=model) as ix:
        matches = _Counting(ix.matches(request))
        if to is None:
            _write_out(export_text(matches, form.value))
            return
        with _written_whole(to) as handle:
            for piece in export_text(matches, form.value):
                handle.write(piece)
    if not quiet:
        typer.echo(f"{to}: {matches.count:,} articles", err=True)


class _Counting:
    """Items passed on, counted."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items, self.count = items, 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.count += 1
            yield item


def _request(
    text: str,
    mode: Mode,
    *,
    since: str | None,
    until: str | None,
    source: list[str] | None,
    where: list[str] | None,
    every_copy: bool,
    collection: list[str] | None,
    **more: Any,
) -> SearchRequest:
    """The request the options that every searching command takes ask for (the query, its
    mode and its filters), with ``more`` (``k``, ``by``, ``sort``, ``offset``), in the CLI's
    words."""
    return SearchRequest.make(
        text,
        mode=mode.value,
        since=since,
        until=until,
        sources=source,
        where=where,
        every_copy=every_copy,
        collections=collection,
        door=CLI,
        **more,
    )


def _write_out(pieces: Iterable[str]) -> None:
    """Each piece to stdout as it comes; a reader that stops (``| head``) ends it quietly."""
    try:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except BrokenPipeError:
        # Python would complain flushing stdout at exit: point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None


@contextlib.contextmanager
def _written_whole(path: Path) -> Iterator[TextIO]:
    """A text file at ``path``, written under a temporary name beside it and renamed over
    it once complete: an interrupted export leaves no half file, and any old one as it was."""
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise InputError(f"cannot write {path}: {error.strerror or error}") from None
        raise


@app.command()
def show(
    article_id: Annotated[str, typer.Argument(help="An article id, as `query` shows it.")],
    index: IndexOption = Path("index"),
    json_lines: JsonOption = False,
) -> None:
    """Print a whole article: its metadata, copies and numbered paragraphs."""
    from search.index import Index

    with _reported():
        checked_article_id(article_id, CLI)
    with _reported(), Index.open(index) as ix:
        article = ix.article(article_id)
    if json_lines:
        output.print_json([dataclasses.asdict(article)])
    else:
        output.print_article(dataclasses.asdict(article))


@app.command()
def similar(
    article_id: Annotated[str, typer.Argument(help="An article id, as `query` shows it.")],
    index: IndexOption = Path("index"),
    top: Annotated[int, typer.Option("--top", "-k", help="How many articles.")] = 10,
    json_lines: JsonOption = False,
) -> None:
    """Print the articles most like one, best first (its own copies left out)."""
    from search.index import Index

    with _reported():
        checked_article_id(article_id, CLI)
        checked_k(top, CLI)
    with _reported(), Index.open(index) as ix:
        hits = ix.similar(article_id, k=top)
    if json_lines:
        output.print_json(dataclasses.asdict(hit) for hit in hits)
        return
    if not hits:
        typer.echo("no other articles", err=True)
        return
    output.print_hits([dataclasses.asdict(hit) for hit in hits], "")


@app.command()
def serve(
    index: IndexOption = Path("index"),
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on (another host: a warning).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="The port (0: any free one).")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="NEWSSEARCH_TOKEN",
            help="Require this token on every request (Authorization: Bearer TOKEN).",
        ),
    ] = None,
    cors: Annotated[
        list[str] | None,
        typer.Option("--cors", help="Let pages from this origin call the API (repeat)."),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option("--engine", help="Who answers: this process, or shards on Ray Serve."),
    ] = Engine.local,
    shards: Annotated[
        int,
        typer.Option("--shards", help="Ray: shards, by publication days (docs/SCALE.md)."),
    ] = 2,
    replicas: Annotated[int, typer.Option("--replicas", help="Ray: replicas of each shard.")] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            envvar="RAY_ADDRESS",
            help="Ray: the cluster (default: a local one, started for this server).",
        ),
    ] = None,
) -> None:
    """Serve the index over HTTP: a JSON API, its docs at /docs, and a search page at /."""
    from search.serve import http as server

    if not 0 <= port <= 65535:
        typer.echo(f"error: --port {port} is not a port number (0 to 65535)", err=True)
        raise typer.Exit(2)
    with _reported():  # each would fail deep inside: binding, or comparing a token
        for name, value in [
            ("--host", host),
            ("--token", token or ""),
            *(("--cors", c) for c in cors or ()),
        ]:
            if not is_text(value):
                raise InputError(not_text(name))
    server.warn_if_exposed(host, lambda line: typer.echo(line, err=True))
    with _reported("the server stopped"):
        server.serve(
            index,
            host=host,
            port=port,
            token=token or None,
            cors_origins=cors or (),
            announce=lambda line: typer.echo(line, err=True),
            shards=shards if engine is Engine.ray else None,
            replicas=replicas,
            ray_address=ray_address,
        )


@app.command()
def mcp(index: IndexOption = Path("index")) -> None:
    """Answer an agent over MCP (stdio): tools search, timeline, show_article,
    similar_articles and index_stats."""
    from search.serve.mcp_tools import run

    with _reported("the server stopped"):
        run(index)


@app.command()
def remove(
    ids: Annotated[list[str], typer.Argument(help="Article ids, as `query --json` shows them.")],
    index: IndexOption = Path("index"),
) -> None:
    """Delete articles from the index."""
    from search.index import Index

    with _reported():
        for article_id in ids:
            checked_article_id(article_id, CLI)
    with _reported(), Index.open(index) as ix:
        report = ix.remove(ids)
        typer.echo(f"removed {len(report.removed)} articles")
        if report.not_found:
            typer.echo(f"error: no article with id {', '.join(report.not_found)}", err=True)
            raise typer.Exit(2)


@app.command()
def info(index: IndexOption = Path("index"), json_lines: JsonOption = False) -> None:
    """Describe an index: counts, model, format, size on disk."""
    from search.index import Index

    with _reported(), Index.open(index) as ix:
        stats = ix.stats()
    if json_lines:
        typer.echo(json.dumps(dataclasses.asdict(stats)))
        return
    rows = [
        ("index", stats.path),
        ("articles", f"{stats.articles:,}"),
        ("passages", f"{stats.passages:,}"),
        ("vectors", f"{stats.vectors:,}, {_LAYOUTS[stats.vector_layout]}"),
        ("segments", _segments(stats)),
        (
            "copies",
            f"{stats.duplicate_groups:,} groups of near-duplicates, "
            f"{stats.articles_in_groups:,} articles in them",
        ),
        ("model", f"{stats.model} ({stats.dimension} dimensions, fingerprint {stats.fingerprint})"),
        (
            "passages of",
            f"up to {stats.passage_tokens} tokens"
            + (", embedded after their title" if stats.title_context else ""),
        ),
        ("format", f"version {stats.format_version}, commit {stats.generation}"),
        ("size on disk", _size(stats.size_bytes)),
    ]
    overview = [
        ("collections", _counted(stats.collections, len(stats.collections))),
        ("outlets", _counted(stats.outlets, stats.outlet_count)),
        ("published", _span(stats.first_published, stats.last_published)),
    ]
    if stats.fields:  # what --where FIELD=VALUE may name, with its commonest values
        overview.append(("fields", ", ".join(stats.fields)))
        overview += [(f" {name}", _counted(values, 0)) for name, values in stats.fields.items()]
    rows[2:2] = [(name, value) for name, value in overview if value]
    for name, value in rows:
        typer.echo(f"{name:<13}{value}" if len(name) < 13 else f"{name} {value}")


def _counted(pairs: Sequence[Counted], total: int, shown: int = 10) -> str:
    """``bbc (2,225), reuters (400)``, and how many more of ``total`` there are."""
    text = ", ".join(f"{pair.value} ({pair.articles:,})" for pair in pairs[:shown])
    more = max(total, len(pairs)) - min(len(pairs), shown)
    return text + (f" and {more:,} more" if text and more > 0 else "")


def _span(first: str | None, last: str | None) -> str:
    if first is None or last is None:
        return ""
    return f"{first[:10]} to {last[:10]}"


def _segments(stats: IndexStats) -> str:
    if stats.format_version == 1:
        return "one vector file (format 1: upgraded by the next writing command)"
    deleted = f", {stats.deleted_vectors:,} deleted vectors awaiting a merge"
    return f"{stats.segments:,}" + (deleted if stats.deleted_vectors else "")


@app.command()
def check(index: IndexOption = Path("index")) -> None:
    """Verify the whole index: every segment's checksum, SQLite's integrity check, and that
    each passage has exactly one vector. Exit 5 if anything is wrong."""
    from search.index import Index

    with _reported(), Index.open(index) as ix:
        report = ix.check()
    for leftover in report.leftovers:
        typer.echo(f"note: {leftover} is named by no commit (the next write removes it)")
    for repair in report.repairs:
        typer.echo(f"note: {repair}")
    if not report.ok:
        for problem in report.problems:
            typer.echo(f"problem: {problem}", err=True)
        typer.echo(f"error: the index at {index} is damaged — rebuild it", err=True)
        raise typer.Exit(5)
    typer.echo(
        f"ok: {report.passages:,} passages, {report.vectors:,} vectors in "
        f"{report.segments:,} segment{'' if report.segments == 1 else 's'}, "
        "every checksum matches"
    )


@app.command()
def optimize(index: IndexOption = Path("index")) -> None:
    """Merge every vector segment into one, leaving deleted vectors out."""
    from search.index import Index

    with _reported(), Index.open(index) as ix:
        merged = ix.optimize()
        stats = ix.stats()
    if merged:
        typer.echo(f"merged {merged} segments into {stats.segments} ({stats.vectors:,} vectors)")
    else:
        typer.echo(f"nothing to merge: {stats.segments} segment, no deleted vectors")


_LAYOUTS = {
    "flat": "exact search",
    "flat-sq8": "exact search over 8-bit vectors",
    "ivf": "inverted file (IVF): approximate, for large indexes",
    "ivf-sq8": "inverted file (IVF) over 8-bit vectors",
}


@app.command("eval")
def eval_(
    data: Annotated[Path, typer.Argument(help="A dataset in BEIR layout.")],
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to judge by.")] = "test",
    mode: Annotated[
        list[Mode] | None, typer.Option("--mode", help="Modes to evaluate (default: all).")
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option("--index", "-i", help="Keep the corpus index here (default: throw-away)."),
    ] = None,
    model: ModelOption = None,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Measure nDCG@10, R@100 and MRR@10 of each mode on a BEIR dataset."""
    from search.evaluation import METRICS, run_eval

    modes = [m.value for m in mode] if mode else [m.value for m in Mode]
    with _reported(), _progress(quiet) as progress:
        report = run_eval(
            data,
            split=split,
            modes=modes,
            index_path=index,
            model=model,
            progress=None if progress is None else lambda _stage, d, t: progress(d, t),
        )
    if json_lines:
        typer.echo(json.dumps(dataclasses.asdict(report)))
        return
    typer.echo(
        f"{report.dataset} ({report.split}, {report.queries} queries, {report.seconds:.0f}s)"
    )
    typer.echo(f"{'mode':<9}" + "".join(f"{m:>9}" for m in METRICS))
    for name, values in report.results.items():
        typer.echo(f"{name:<9}" + "".join(f"{values[m]:>9.4f}" for m in METRICS))


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "embedding", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    ) as bar:
        task = bar.add_task("embedding", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return ""


# Alerts: saved searches that report what is new (docs/cli.md "Alerts").

alerts = typer.Typer(
    no_args_is_help=True,
    help="Saved searches that report the articles each `index` run brings: add one, then "
    "`alert run` after each run (from cron, say).",
)
app.add_typer(alerts, name="alert")
AlertName = Annotated[str, typer.Argument(help="The alert's name: letters, digits, . _ -.")]


@alerts.command("add")
def alert_add(
    name: AlertName,
    text: Annotated[str, typer.Argument(help="What to watch for: a query, as `query` takes.")],
    index: IndexOption = Path("index"),
    mode: Annotated[Mode, typer.Option("--mode", help="How to match.")] = _HYBRID,
    since: Annotated[
        str | None, typer.Option("--since", help="Published on or after this day (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Published on or before this day.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="From this outlet (repeat: any of them).")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="FIELD=VALUE, e.g. topics=crude (repeat: all must hold)."),
    ] = None,
    collection: Annotated[
        list[str] | None,
        typer.Option("--collection", help="From this collection (repeat: any of them)."),
    ] = None,
    every_copy: Annotated[
        bool, typer.Option("--all", help="Report every copy of a wire story, not one.")
    ] = False,
) -> None:
    """Save a search as an alert: its first run reports the matching articles committed
    after now."""
    from search.index import Index

    with _reported():
        request = _request(
            text,
            mode,
            since=since,
            until=until,
            source=source,
            where=where,
            every_copy=every_copy,
            collection=collection,
        )
    with _reported(), Index.open(index) as ix:
        alert = ix.add_alert(name, request)
    typer.echo(
        f"saved alert {alert.name}: `newssearch alert run {alert.name}` reports the articles "
        f"committed after commit {alert.generation} that match it"
    )


@alerts.command("list")
def alert_list(index: IndexOption = Path("index"), json_lines: JsonOption = False) -> None:
    """List the saved alerts: each one's search, and when it last ran."""
    from search.index import Index

    with _reported(), Index.open(index) as ix:
        saved = ix.alerts()
    if json_lines:
        output.print_json(dataclasses.asdict(alert) for alert in saved)
        return
    if not saved:
        typer.echo(f"no alerts saved in {index} — `newssearch alert add NAME QUERY` saves one")
        return
    for alert in saved:
        typer.echo(output.alert_line(dataclasses.asdict(alert)))


@alerts.command("remove")
def alert_remove(name: AlertName, index: IndexOption = Path("index")) -> None:
    """Forget a saved alert."""
    from search.index import Index

    with _reported(), Index.open(index) as ix:
        ix.remove_alert(name)
    typer.echo(f"removed alert {name}")


@alerts.command("run")
def alert_run(
    name: Annotated[
        str | None, typer.Argument(help="The alert to run (default: every alert).")
    ] = None,
    index: IndexOption = Path("index"),
    json_lines: JsonOption = False,
) -> None:
    """Print the articles committed since an alert last ran that match it (newest first),
    and record that it ran; without NAME, every alert in turn."""
    from search.index import Index

    failed: SearchError | None = None
    with _reported(), Index.open(index) as ix:
        names = [name] if name is not None else [alert.name for alert in ix.alerts()]
        if not names:
            typer.echo(f"no alerts saved in {index} — `newssearch alert add` saves one", err=True)
        for each in names:
            try:
                run = dataclasses.asdict(ix.run_alert(each))
            except SearchError as error:
                if name is not None:
                    raise
                # One alert that cannot run does not keep the others from running.
                typer.echo(f"error: alert {each}: {error}", err=True)
                failed = failed or error
                continue
            if json_lines:
                output.print_json([run])
            else:
                output.print_alert_run(run)
    if failed is not None:
        raise typer.Exit(failed.exit_code)


def main() -> None:
    app()
