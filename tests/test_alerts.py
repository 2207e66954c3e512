"""Alerts (search/query/alerts.py): saved searches that report the matching articles each
commit brings, through commits, changes, removals and upgrades, at every door: the library,
the CLI, the HTTP API (tests/test_mcp.py has MCP's tools through the SDK's client)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FakeEmbedder, one_line_error, write_articles

from search import (
    AlertExistsError,
    AlertNotFoundError,
    Index,
    IndexLockedError,
    InputError,
    QueryError,
)
from search.storage import folder as storage
from search.storage import migrations
from search.storage.database import Store

FIXTURES = Path(__file__).with_name("fixtures")
PHRASE = '"oil prices"'  # a query with syntax: its matching set is exact, not a threshold


PLACES = ["Tokyo", "Lagos", "Houston", "Rotterdam", "Caracas", "Jakarta", "Aberdeen", "Riyadh"]
THINGS = ["tankers", "refiners", "brokers", "ministers", "traders", "drillers", "shippers"]


def record(number: int, *, oil: bool, day: int = 1, edit: str = "") -> dict:
    """An article that holds the phrase "oil prices" (``oil``) or not, published on
    March ``day`` 1987; each number's words differ, so no two are wire copies."""
    place, things = PLACES[number % len(PLACES)], THINGS[number % len(THINGS)]
    subject = "oil prices" if oil else "wheat harvests"
    return {
        "id": f"{'oil' if oil else 'grain'}-{number}",
        "title": f"{place} {things} report {number}{edit}",
        "text": f"In {place}, {things} watched {subject} for {number * 7} days running. "
        f"{' '.join(f'{w}{number}' for w in ('alpha', 'beta', 'gamma', 'delta', 'omega'))} "
        f"were the names of the {number} cargoes that sailed.{edit}",
        "date": f"1987-03-{day:02d}",
        "source": "Reuters" if number % 2 else "BBC News",
        "topics": ["crude"] if oil else ["grain"],
    }


def as_json_data(value: object) -> object:
    """A dataclass as a JSON answer gives it (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(value)))  # type: ignore[call-overload]


class Archive:
    """An index and the files it is built from: ``commit`` writes one file of records and
    indexes the folder (one commit), ``remove`` deletes articles (one commit)."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "news"
        self.folder.mkdir(parents=True)
        self.ix = Index.create(root / "index", model=FakeEmbedder())

    def commit(self, name: str, *records: dict) -> int:
        lines = "".join(json.dumps(r) + "\n" for r in records)
        write_articles(self.folder, {f"{name}.jsonl": lines})
        self.ix.update([self.folder])
        return self.ix.stats().generation

    def reported(self, alert: str = "oil") -> list[str]:
        """The ids the alert's run reports, in its order."""
        return [m.article_id for m in self.ix.run_alert(alert).matches]

    def added_after(self, generation: int) -> list[str]:
        store = Store.open(self.ix.path / storage.STORE, readonly=True)
        try:
            return store.articles_added_after(generation)
        finally:
            store.close()


@pytest.fixture
def archive(tmp_path: Path):
    made = Archive(tmp_path)
    made.commit("first", record(1, oil=True), record(2, oil=False))
    yield made
    made.ix.close()


# ---------------------------------------------------------------------------
# What a run reports: the articles later commits wrote, once


def test_each_commit_records_the_articles_it_writes(archive: Archive) -> None:
    """``articles.added``: the commit that last wrote each article, read by its index."""
    first = archive.ix.stats().generation
    assert archive.added_after(first - 1) == ["news/grain-2", "news/oil-1"]
    second = archive.commit("second", record(3, oil=True))
    assert archive.added_after(first) == ["news/oil-3"]
    assert archive.added_after(second) == []
    # An article changed in its file is written anew by the next commit; its neighbours
    # in the file, unchanged, keep their commit.
    third = archive.commit("first", record(1, oil=True, edit=" (updated)"), record(2, oil=False))
    assert archive.added_after(second) == ["news/oil-1"]
    assert archive.added_after(third) == []
    # The statement the store runs is read through the index on ``added``, not by a scan
    # of every article.
    store = Store.open(archive.ix.path / storage.STORE, readonly=True)
    try:
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        store.articles_added_after(second)
        store._db.set_trace_callback(None)
        (statement,) = statements
        plan = store._rows(f"EXPLAIN QUERY PLAN {statement}")
    finally:
        store.close()
    assert any("USING INDEX articles_added" in str(row) for row in plan), plan


def test_a_run_reports_what_each_commit_brought_once_newest_first(archive: Archive) -> None:
    saved = archive.ix.add_alert("oil", PHRASE)
    assert saved.generation == archive.ix.stats().generation
    assert archive.reported() == []  # a first run: only what came after it was saved
    archive.commit("second", record(3, oil=True, day=2), record(4, oil=False))
    archive.commit("third", record(5, oil=True, day=9), record(7, oil=True, day=5))
    run = archive.ix.run_alert("oil")
    assert [m.article_id for m in run.matches] == ["oil-5", "oil-7", "oil-3"]  # newest first
    assert (run.after, run.generation) == (saved.generation, archive.ix.stats().generation)
    assert {m.collection for m in run.matches} == {"news"}
    assert all("oil prices" in m.passage for m in run.matches)
    assert archive.reported() == []  # reported once
    (listed,) = archive.ix.alerts()
    assert listed.generation == run.generation and listed.last_run == run.ran


def test_a_changed_article_is_reported_again_an_unchanged_one_is_not(archive: Archive) -> None:
    archive.ix.add_alert("oil", PHRASE)
    # The same records written again (a new mtime): read, found unchanged, not written.
    archive.commit("first", record(1, oil=True), record(2, oil=False))
    assert archive.reported() == []
    archive.commit("first", record(1, oil=True, edit=" (corrected)"), record(2, oil=False))
    assert archive.reported() == ["oil-1"]
    # A change that takes the phrase out: written anew, but no longer a match.
    archive.commit("first", record(1, oil=False), record(2, oil=False))
    assert archive.reported() == []


def test_a_removed_article_is_not_reported_and_one_added_again_is(archive: Archive) -> None:
    archive.ix.add_alert("oil", PHRASE)
    archive.commit("second", record(3, oil=True), record(5, oil=True))
    archive.ix.remove(["news/oil-3"])  # committed, then removed before the run
    assert archive.reported() == ["oil-5"]
    archive.ix.remove(["news/oil-1"])  # an article from before the alert, removed
    assert archive.reported() == []
    # The next run of `index` reads oil-1's file again (``remove`` forgot it), and oil-3
    # comes back in a file of its own: both are added again, so both are reported.
    (archive.folder / "second.jsonl").unlink()
    archive.commit("third", record(3, oil=True, day=4))
    assert archive.reported() == ["oil-3", "oil-1"]
    assert archive.added_after(0) == ["news/grain-2", "news/oil-1", "news/oil-3"]


def test_each_alert_keeps_its_own_place(archive: Archive) -> None:
    archive.ix.add_alert("oil", PHRASE)
    archive.commit("second", record(3, oil=True))
    archive.ix.add_alert("oil-reuters", PHRASE, sources="Reuters")
    assert archive.reported() == ["oil-3"]
    archive.commit("third", record(5, oil=True, day=3), record(6, oil=True, day=2))
    assert archive.reported("oil-reuters") == ["oil-5"]  # not oil-3: before it was saved
    assert archive.reported() == ["oil-5", "oil-6"]


# ---------------------------------------------------------------------------
# Saving, listing, removing; what is refused


def test_alerts_are_saved_in_the_index_and_listed_by_name(archive: Archive) -> None:
    generation = archive.ix.stats().generation
    manifest = (archive.ix.path / "manifest.json").read_bytes()
    archive.ix.add_alert("zinc", "zinc", mode="lexical")
    archive.ix.add_alert(
        "oil",
        PHRASE,
        since="1987-03",
        until="1987-04-01",
        sources=["Reuters"],
        where={"topics": "crude"},
        collections="news",
        every_copy=True,
    )
    # Saving writes no commit: the articles as readers see them are unchanged.
    assert archive.ix.stats().generation == generation
    assert (archive.ix.path / "manifest.json").read_bytes() == manifest
    with Index.open(archive.ix.path) as again:
        listed = again.alerts()
    assert [a.name for a in listed] == ["oil", "zinc"]
    oil = listed[0]
    assert (oil.query, oil.mode, oil.since, oil.until) == (
        PHRASE,
        "hybrid",
        "1987-03",
        "1987-04-01",
    )
    assert (oil.sources, oil.where, oil.collections) == (("Reuters",), ("topics=crude",), ("news",))
    assert oil.every_copy and oil.last_run is None and oil.generation == generation
    assert oil.created.endswith("Z")
    assert oil.request().only is not None
    archive.ix.remove_alert("oil")
    assert [a.name for a in archive.ix.alerts()] == ["zinc"]


@pytest.mark.parametrize(
    "name", ["", "oil prices", "-oil", ".hidden", "../x", "a/b", "é", "x" * 65, "a\n", None]
)
def test_a_bad_name_is_refused_in_one_line(archive: Archive, name: object) -> None:
    with pytest.raises(InputError) as raised:
        archive.ix.add_alert(name, PHRASE)  # type: ignore[arg-type]
    assert "is no alert name" in str(raised.value) and "\n" not in str(raised.value)
    assert archive.ix.alerts() == []


def test_a_taken_name_an_unknown_name_and_a_bad_query_are_refused(archive: Archive) -> None:
    archive.ix.add_alert("oil", PHRASE)
    with pytest.raises(AlertExistsError, match="an alert named 'oil' is saved in .* already"):
        archive.ix.add_alert("oil", "wheat")
    for act in (archive.ix.run_alert, archive.ix.remove_alert):
        with pytest.raises(AlertNotFoundError, match="no alert named 'gold' .* its alerts: oil"):
            act("gold")
    with pytest.raises(QueryError, match="the query breaks at character 1"):
        archive.ix.add_alert("bad", '"oil prices')
    with pytest.raises(QueryError):
        archive.ix.add_alert("bad", "oil", since="the fifth of March")
    with pytest.raises(QueryError, match="no outlet 'reuter' in this index — nearest: Reuters"):
        archive.ix.add_alert("bad", PHRASE, sources="Reuter")
    with pytest.raises(QueryError, match="unknown field 'colour'"):
        archive.ix.add_alert("bad", PHRASE, where=["colour=red"])
    assert [a.name for a in archive.ix.alerts()] == ["oil"]
    archive.ix.remove_alert("oil")
    with pytest.raises(AlertNotFoundError, match="it has none saved"):
        archive.ix.run_alert("oil")


def test_writing_an_alert_takes_the_index_lock(archive: Archive) -> None:
    archive.ix.add_alert("oil", PHRASE)
    with storage.lock(archive.ix.path):  # another writer, holding the index
        for write in (
            lambda: archive.ix.add_alert("other", PHRASE),
            lambda: archive.ix.run_alert("oil"),
            lambda: archive.ix.remove_alert("oil"),
        ):
            with pytest.raises(IndexLockedError):
                write()
        assert [a.name for a in archive.ix.alerts()] == ["oil"]  # reading needs no lock


# ---------------------------------------------------------------------------
# Upgrades: alerts are kept; no article becomes new


@pytest.mark.parametrize("fixture", ["index_v1", "index_v2"])
def test_an_old_index_upgraded_by_saving_an_alert_reports_only_what_comes_after(
    tmp_path: Path, fixture: str
) -> None:
    path = tmp_path / "index"
    shutil.copytree(FIXTURES / fixture, path)
    folder = tmp_path / "more"
    with Index.open(path, model=FakeEmbedder()) as ix:
        articles = ix.stats().articles
        alert = ix.add_alert("oil", PHRASE)  # the first write: every migration runs
        assert ix.stats().generation == alert.generation
        assert ix.run_alert("oil").matches == ()  # upgraded articles are not new
        write_articles(folder, {"oil.jsonl": json.dumps(record(1, oil=True)) + "\n"})
        ix.add([folder])
        assert [m.article_id for m in ix.run_alert("oil").matches] == ["oil-1"]
        assert ix.stats().articles == articles + 1


@pytest.fixture
def a_later_migration(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A migration after every real one, as a later newssearch would bring: a schema change
    and a rewrite of every passage's lexical entry, as a new commit. The names it ran."""
    ran: list[str] = []
    registry = migrations.Migrations(list(migrations.migrations))

    @registry(schema="CREATE TABLE later (x INTEGER);")
    def m009_later(up: migrations.Upgrade) -> None:
        """A later upgrade: a table, and the lexical index written again."""
        generation = up.new_generation()
        up.writer.rebuild_lexical(generation)
        ran.append("m009_later")

    monkeypatch.setattr(migrations, "migrations", registry)
    monkeypatch.setattr("search.storage.database.SCHEMA_VERSION", registry.schema_version)
    return ran


def test_a_later_upgrade_keeps_alerts_and_makes_no_article_new(
    archive: Archive, a_later_migration: list[str]
) -> None:
    archive.ix.add_alert("oil", PHRASE)
    archive.commit("second", record(3, oil=True))
    before = archive.ix.alerts()
    archive.commit("third", record(5, oil=True, day=2))  # the write that upgrades, then commits
    assert a_later_migration == ["m009_later"]
    assert archive.ix.alerts() == before
    assert archive.reported() == ["oil-5", "oil-3"]  # the upgrade's commit brought nothing


# ---------------------------------------------------------------------------
# The CLI


def test_the_cli_adds_lists_runs_and_removes(archive: Archive, cli: Callable) -> None:
    index = archive.ix.path
    added = cli("alert", "add", "oil", PHRASE, "--source", "Reuters", "--index", index)
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("saved alert oil: ")
    assert cli("alert", "add", "all-oil", "+oil", "--since", "1987", "-i", index).exit_code == 0
    listed = cli("alert", "list", "--index", index)
    assert listed.stdout.splitlines()[1].startswith(
        "oil  '\"oil prices\"' --source 'Reuters'  (never run, at commit "
    )
    as_json = [
        json.loads(line) for line in cli("alert", "list", "--json", "-i", index).stdout.splitlines()
    ]
    assert [a["name"] for a in as_json] == ["all-oil", "oil"]
    assert as_json[1] == as_json_data(archive.ix.alerts()[1])
    archive.commit("second", record(3, oil=True), record(4, oil=True, day=2))
    ran = cli("alert", "run", "oil", "--index", index)
    assert ran.exit_code == 0, ran.output
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("oil: 1 new article (commit")
    title = record(3, oil=True)["title"]
    assert lines[1] == f"  1987-03-01  Reuters  {title}  news/oil-3"
    again = cli("alert", "run", "oil", "--index", index)
    assert again.stdout.startswith("oil: no new articles (no commit since commit ")
    every = cli("alert", "run", "--json", "--index", index)
    runs = [json.loads(line) for line in every.stdout.splitlines()]
    assert [r["name"] for r in runs] == ["all-oil", "oil"]
    assert [m["article_id"] for m in runs[0]["matches"]] == ["oil-4", "oil-3"]
    assert runs[1]["matches"] == []
    assert cli("alert", "remove", "oil", "--index", index).stdout == "removed alert oil\n"
    assert [a.name for a in archive.ix.alerts()] == ["all-oil"]


def test_the_cli_says_each_error_in_one_line_with_its_code(archive: Archive, cli: Callable) -> None:
    index = archive.ix.path
    assert cli("alert", "add", "oil", PHRASE, "-i", index).exit_code == 0
    cases = [
        (("alert", "add", "oil", "wheat"), 14, "is saved in"),
        (("alert", "add", "a b", "wheat"), 2, "is no alert name"),
        (("alert", "add", "x", '"oil'), 3, "the query breaks at character 1"),
        (("alert", "add", "x", "oil", "--until", "soon"), 3, "--until"),
        (("alert", "run", "gold"), 13, "no alert named 'gold'"),
        (("alert", "remove", "gold"), 13, "its alerts: oil"),
    ]
    for args, code, said in cases:
        line = one_line_error(cli(*args, "--index", index), code)
        assert said in line, (args, line)
    assert [a.name for a in archive.ix.alerts()] == ["oil"]


def test_run_without_a_name_runs_every_alert_past_one_that_fails(
    archive: Archive, cli: Callable
) -> None:
    index = archive.ix.path
    assert cli("alert", "add", "a-bbc", PHRASE, "--source", "BBC News", "-i", index).exit_code == 0
    assert cli("alert", "add", "oil", PHRASE, "-i", index).exit_code == 0
    archive.commit("second", record(3, oil=True))
    archive.ix.remove(["grain-2"])  # BBC News's last article: the outlet is gone
    result = cli("alert", "run", "-i", index)
    assert result.exit_code == 3  # the failed alert's code, once the others have run
    assert result.stderr.startswith("error: alert a-bbc: no outlet 'bbc news' in this index")
    assert result.stdout.startswith("oil: 1 new article")
    one_line_error(cli("alert", "run", "a-bbc", "-i", index), 3)  # by name: the error alone


def test_a_damaged_alert_is_said_by_every_command_and_can_be_removed(
    archive: Archive, cli: Callable
) -> None:
    index = archive.ix.path
    assert cli("alert", "add", "oil", PHRASE, "-i", index).exit_code == 0
    db = sqlite3.connect(index / storage.STORE)
    db.execute("UPDATE alerts SET request = 'not json'")
    db.commit()
    db.close()
    for args in (("list",), ("run",), ("run", "oil")):
        line = one_line_error(cli("alert", *args, "-i", index), 5)
        assert "alert 'oil' in " in line and "is damaged — remove it" in line, line
    assert cli("alert", "remove", "oil", "-i", index).exit_code == 0
    assert cli("alert", "list", "-i", index).exit_code == 0


def test_run_without_alerts_says_so(archive: Archive, cli: Callable) -> None:
    result = cli("alert", "run", "--index", archive.ix.path)
    assert result.exit_code == 0 and result.stdout == ""
    assert "no alerts saved" in result.stderr
    assert "no alerts saved" in cli("alert", "list", "-i", archive.ix.path).stdout


# ---------------------------------------------------------------------------
# The HTTP API


@pytest.fixture
def http(archive: Archive):
    """``open(token)``: an in-process client of a server of the archive, with that token."""
    from fastapi.testclient import TestClient

    from search.serve.http import make_app
    from search.serve.service import Service

    services: list[Service] = []

    def open_client(token: str | None) -> TestClient:
        service = Service(archive.ix.path, model=FakeEmbedder())
        services.append(service)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return TestClient(
            make_app(service, token=token), base_url="http://127.0.0.1", headers=headers
        )

    yield open_client
    for service in services:
        service.close()


def test_the_api_lists_alerts_and_writes_them_only_with_a_token(
    archive: Archive, http: Callable
) -> None:
    archive.ix.add_alert("oil", PHRASE)
    open_server = http(None)
    listed = open_server.get("/api/alerts")
    assert listed.status_code == 200
    assert listed.json() == {"alerts": [as_json_data(a) for a in archive.ix.alerts()]}
    for method, url in [
        ("POST", "/api/alerts/gold?q=gold"),
        ("POST", "/api/alerts/oil/run"),
        ("DELETE", "/api/alerts/oil"),
    ]:
        answer = open_server.request(method, url)
        assert answer.status_code == 403, (url, answer.text)
        assert "read-only" in answer.json()["error"] and "--token" in answer.json()["error"]
    assert [a.name for a in archive.ix.alerts()] == ["oil"]
    assert archive.ix.alerts()[0].last_run is None  # nor was it run


def test_the_api_with_a_token_adds_runs_and_removes(archive: Archive, http: Callable) -> None:
    api = http("s3cret")
    added = api.post("/api/alerts/reuters-oil", params={"q": PHRASE, "source": "Reuters"})
    assert added.status_code == 200, added.text
    assert added.json() == as_json_data(archive.ix.alerts()[0])
    assert added.json()["sources"] == ["Reuters"]
    assert api.post("/api/alerts/reuters-oil", params={"q": "x"}).status_code == 409
    sorted_ = api.post("/api/alerts/sorted", params={"q": "x", "sort": "newest"})
    assert sorted_.status_code == 400 and "unknown parameter 'sort'" in sorted_.json()["error"]
    assert http(None).get("/api/alerts", headers={}).status_code == 200
    assert (
        http("s3cret").get("/api/alerts", headers={"Authorization": "Bearer no"}).status_code == 401
    )
    archive.commit("second", record(3, oil=True), record(4, oil=True))
    ran = api.post("/api/alerts/reuters-oil/run")
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert [m["article_id"] for m in body["matches"]] == ["oil-3"]
    assert (
        body["generation"] == archive.ix.stats().generation and body["after"] < body["generation"]
    )
    assert api.post("/api/alerts/reuters-oil/run").json()["matches"] == []
    bad = [
        ("POST", "/api/alerts/a%20b?q=oil", 400, "is no alert name"),
        ("POST", "/api/alerts/x?q=%22oil", 400, "the query breaks"),
        ("POST", "/api/alerts/x", 400, "the query is empty"),
        ("POST", "/api/alerts/x?q=oil&since=soon", 400, "since"),
        ("POST", "/api/alerts/gold/run", 404, "no alert named 'gold'"),
        ("DELETE", "/api/alerts/gold", 404, "no alert named 'gold'"),
    ]
    for method, url, status, said in bad:
        answer = api.request(method, url)
        assert answer.status_code == status, (url, answer.text)
        assert said in answer.json()["error"], (url, answer.text)
    removed = api.delete("/api/alerts/reuters-oil")
    assert removed.status_code == 200 and removed.json() == {"removed": "reuters-oil"}
    assert api.get("/api/alerts").json() == {"alerts": []}


def test_each_alert_error_has_its_status() -> None:
    from search import IndexWriteError
    from search.serve.service import status_of

    assert status_of(AlertNotFoundError("x")) == 404
    assert status_of(AlertExistsError("x")) == 409
    assert status_of(IndexWriteError("x")) == 503  # read-only, or a full disk: not the request's
    assert status_of(IndexLockedError("x")) == 503


def test_the_schema_describes_the_alert_operations(archive: Archive, http: Callable) -> None:
    schema = http(None).get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/alerts/{name}"]) == {"post", "delete"}
    assert set(paths["/api/alerts/{name}/run"]) == {"post"}
    add = paths["/api/alerts/{name}"]["post"]
    assert [p["name"] for p in add["parameters"]] == [
        "name",
        "q",
        "mode",
        "since",
        "until",
        "source",
        "collection",
        "where",
        "all",
    ]
    assert {"200", "403", "409"} <= set(add["responses"])
    assert {"200", "403", "404"} <= set(paths["/api/alerts/{name}/run"]["post"]["responses"])


# ---------------------------------------------------------------------------
# A read-only index: its alerts are listed, and not changed


@pytest.mark.process
def test_a_read_only_index_lists_its_alerts_and_refuses_to_change_them(archive: Archive) -> None:
    from test_safety import _contents, _read_only

    archive.ix.add_alert("oil", PHRASE)
    path = archive.ix.path
    archive.ix.close()
    before = _contents(path)
    listed = _read_only(path, "alert", "list", "--json", "--index", path)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["oil"]
    for args in (("add", "gold", "gold"), ("run", "oil"), ("remove", "oil")):
        result = _read_only(path, "alert", *args, "--index", path)
        assert result.returncode == 10, (args, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert "read-only here" in line, line
    assert _contents(path) == before


def test_another_method_is_a_405_naming_every_method_of_the_path(
    archive: Archive, http: Callable
) -> None:
    """Two routes share /api/alerts/{name} (POST, DELETE): Starlette's Allow named the
    first one's alone."""
    api = http(None)
    for method, url, allowed in [
        ("PUT", "/api/alerts/oil", "DELETE, POST"),
        ("GET", "/api/alerts/oil/run", "POST"),
        ("POST", "/api/search", "GET"),
    ]:
        answer = api.request(method, url)
        assert (answer.status_code, answer.headers["allow"]) == (405, allowed), url
