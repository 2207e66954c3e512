"""How hits and articles look on a terminal, in a pipe and as JSON lines: shared by the CLI
and its fast path through a running server, so both print the same bytes. Hits, articles
and facets are dicts, as ``dataclasses.asdict`` makes them and as the server sends them.
Also a timeline as a table or CSV, and the lines of an indexing run's summary that say what
went in and what was left out."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from search.serve import export

if TYPE_CHECKING:
    from search.index import UpdateReport

INDEX_KEPT = "the index keeps its last complete commit"  # said when a command is interrupted


def print_json(rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


def print_hits(hits: Sequence[Mapping[str, Any]], query_text: str) -> None:
    if not _styled():
        # Piped: plain lines, unwrapped, for grep and friends (no rich import needed).
        for hit in hits:
            sys.stdout.write(
                f"{hit['rank']:>2}. {relevance_text(hit)}{hit['title']}\n"
                f"    {where_line(hit)}\n    {hit['text']}\n\n"
            )
        return
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    from search.query.highlight import highlight_spans

    console = Console(highlight=False)
    for hit in hits:
        heading = Text(f"{hit['rank']:>2}. ", style="bold")
        heading.append(relevance_text(hit), style="dim")
        heading.append(hit["title"] or "(untitled)", style="bold")
        body = Text(hit["text"])
        for start, end in highlight_spans(hit["text"], query_text):
            body.stylize("bold yellow", start, end)
        console.print(heading)
        console.print(Padding(Text(where_line(hit), style="cyan"), (0, 0, 0, 4)))
        console.print(Padding(body, (0, 0, 1, 4)))


def relevance_text(hit: Mapping[str, Any]) -> str:
    """``0.83  ``: the hit's relevance, 0 to 1 (docs/cli.md); nothing where it has none (in
    lexical mode), the rank alone then saying where it stands. The raw score is JSON's."""
    relevance = hit.get("relevance")
    return "" if relevance is None else f"{relevance:.2f}  "


def print_facets(facets: Mapping[str, Any]) -> None:
    """The matching articles counted: a small table for outlets, collections and each
    field, the commonest values first."""
    tables = {"outlets": facets["outlets"], "collections": facets["collections"]}
    tables.update(facets["fields"])
    out = [f"\nfacets of {_many(facets['matched'], 'matching article')}\n"]
    for name, counted in tables.items():
        if not counted:
            continue
        width = min(max(len(pair["value"]) for pair in counted), 40)
        out.append(f"\n{name}\n")
        out += [
            f"  {_cut(pair['value'], width):<{width}}  {pair['articles']:>9,}\n" for pair in counted
        ]
    sys.stdout.write("".join(out))


def print_timeline(timeline: Mapping[str, Any]) -> None:
    """A timeline as a table: a row for each period (and outlet), then what it adds up to."""
    split = timeline["split"] is not None
    out = [f"{'start':<10}  {'count':>9}  {'total_count':>11}  {'ratio':>7}"]
    out[0] += "  outlet" if split else ""
    for period in timeline["periods"]:
        out.append(
            f"{period['start']:<10}  {period['count']:>9,}  {period['total_count']:>11,}  "
            f"{period['ratio']:>7.4f}" + (f"  {period['outlet'] or ''}" if split else "")
        )
    undated, every = timeline["undated"], timeline["every"]
    line = f"{timeline['matched']:,} of {timeline['total']:,} dated articles match, by {every}"
    if undated:
        line += (
            f"; {_many(undated, 'matching article')} {'has' if undated == 1 else 'have'} no date"
        )
    out.append(line)
    sys.stdout.write("\n".join(out) + "\n")


def print_timeline_csv(timeline: Mapping[str, Any]) -> None:
    """A timeline as CSV: a header, then start,count,total_count,ratio (and outlet), each
    cell as an export's (``export.cell``: an outlet's name is the archive's text)."""
    columns = ["start", "count", "total_count", "ratio"]
    if timeline["split"] is not None:
        columns.append("outlet")
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for period in timeline["periods"]:
        writer.writerow([export.cell(period[c]) for c in columns])


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def print_article(article: Mapping[str, Any]) -> None:
    """A whole article, as ``dataclasses.asdict(ArticleDetail)`` makes it and as the server
    sends it: its key, metadata and copies, then its numbered paragraphs."""
    rows = [
        ("title", article["title"] or "(untitled)"),
        ("published", article["published"] or "unknown"),
        ("source", article["source"] or "unknown"),
        ("url", article["url"] or ""),
        ("file", article["path"]),
        *((name, _field_text(value)) for name, value in article["fields"].items()),
        ("copies", ", ".join(article["duplicates"])),
    ]
    collection = article["collection"]
    lines = [f"{collection}/{article['id']}" if collection else article["id"]]
    width = max(len(name) for name, _ in rows) + 2
    lines += [f"  {name:<{width}}{value}" for name, value in rows if value]
    lines += [f"\n¶{n}  {paragraph}" for n, paragraph in enumerate(article["paragraphs"], 1)]
    sys.stdout.write("".join(line + "\n" for line in lines))


def _field_text(value: object) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)


def where_line(hit: Mapping[str, Any]) -> str:
    """The line under a hit's title: id, paragraph, day, outlet, copies, passages matched."""
    parts = [hit["article_id"], f"¶{hit['paragraph']}"]
    if hit["published"]:
        parts.append(hit["published"][:10])
    if hit["source"]:
        parts.append(hit["source"])
    if hit["matched"] > 1:
        parts.append(f"{hit['matched']} passages match")
    copies = len(hit["duplicates"])
    if copies:
        parts.append(f"+{copies} cop{'y' if copies == 1 else 'ies'}")
    return "  ".join(parts)


def formats_line(files: Mapping[str, int], articles: Mapping[str, int]) -> str:
    """``files: 1 .jsonl.gz (2,225 articles), 3 .html (3 articles)``: the files an indexing
    run found by format, and the articles the index holds from them."""
    return "files: " + ", ".join(
        f"{n:,} {kind} ({_many(articles.get(kind, 0), 'article')})" for kind, n in files.items()
    )


def left_out_lines(report: UpdateReport, verbose: bool) -> list[str]:
    """``left out 3: 2 hidden, 1 dataset note (SOURCE.md)``, with each path under it when
    ``verbose``; nothing when nothing was left out."""
    if not report.left_out:
        return []
    counts = report.left_out_counts()
    named = {s.reason: os.path.basename(s.path) for s in report.left_out if counts[s.reason] == 1}
    parts = [
        f"{n} {reason}" + (f" ({named[reason]})" if reason in named else "")
        for reason, n in counts.items()
    ]
    line = f"left out {len(report.left_out)}: {', '.join(parts)}"
    if report.removed_left_out:
        line += f"; {_many(report.removed_left_out, 'article')} indexed from them before removed"
    lines = [line]
    for skip in sorted(report.left_out, key=lambda s: s.path) if verbose else ():
        detail = f" ({skip.detail})" if skip.detail else ""
        lines.append(f"  {skip.reason}: {skip.path}{detail}")
    return lines


def _many(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def no_hits_line(index: str, articles: int, filtered: bool, skipped: int = 0) -> str:
    if articles == 0:
        return f"the index at {index} has no articles yet — run `newssearch index DIR`"
    if skipped:
        return f"no more hits after the first {skipped:,}"
    return "no passages match" + (" these filters" if filtered else "")


def alert_line(alert: Mapping[str, Any]) -> str:
    """An alert as ``alert list`` shows it: its name, its search, when it last ran."""
    search = [repr(alert["query"])]
    if alert["mode"] != "hybrid":
        search.append(f"--mode {alert['mode']}")
    for option, key in (("--since", "since"), ("--until", "until")):
        if alert[key]:
            search.append(f"{option} {alert[key]}")
    for option, key in (
        ("--source", "sources"),
        ("--where", "where"),
        ("--collection", "collections"),
    ):
        search += [f"{option} {value!r}" for value in alert[key]]
    if alert["every_copy"]:
        search.append("--all")
    ran = f"last run {alert['last_run']}" if alert["last_run"] else "never run"
    return f"{alert['name']}  {' '.join(search)}  ({ran}, at commit {alert['generation']})"


def print_alert_run(run: Mapping[str, Any]) -> None:
    """An alert's run: a line saying what it found, then each article, newest first."""
    matches, after, reached = run["matches"], run["after"], run["generation"]
    found = _many(len(matches), "new article") if matches else "no new articles"
    commits = f"commits {after + 1} to {reached}" if reached > after + 1 else f"commit {reached}"
    if reached == after:
        commits = f"no commit since commit {after}"
    sys.stdout.write(f"{run['name']}: {found} ({commits})\n")
    for match in matches:
        day = (match["published"] or "undated")[:10]
        key = (
            f"{match['collection']}/{match['article_id']}"
            if match["collection"]
            else match["article_id"]
        )
        parts = [day, match["source"] or "", match["title"] or "(untitled)", key]
        sys.stdout.write("  " + "  ".join(p for p in parts if p) + "\n")
        if match["url"]:
            sys.stdout.write(f"    {match['url']}\n")


def _styled() -> bool:
    """Whether stdout takes styles, decided as rich decides it (TTY_COMPATIBLE, FORCE_COLOR,
    then isatty), without importing rich for a pipe."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return sys.stdout.isatty()
    except ValueError:  # a closed stream
        return False
