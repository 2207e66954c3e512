"""The Index end to end with the fake embedder: indexing, incremental runs, search, errors,
and the promise that a failed run leaves the previous index whole."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FakeEmbedder, write_articles

import search.storage.folder
import search.write.writer
from search import (
    Index,
    IndexCorruptError,
    IndexLockedError,
    IndexNotFoundError,
    IndexVersionError,
    IndexWriteError,
    InputError,
    ModelMismatchError,
    QueryError,
)

STORIES = {
    "iraq.txt": "US strikes in Iraq\n\nThe US struck militia bases in Anbar province.\n\n"
    "Kataib Hezbollah, or Brigades of the Party of God, is an Iraqi Shia militia.\n",
    "cocoa.txt": "Cocoa review\n\n"
    "Showers continued throughout the week in the Bahia cocoa zone.\n\n"
    "Arrivals for the week were 155,221 bags of 60 kilos.\n",
    "sport/final.md": "# Cup final\n\nThe home side won the cup final after extra time.\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_articles(tmp_path / "news", STORIES)


@pytest.fixture
def ix(tmp_path: Path, fake: FakeEmbedder, corpus: Path) -> Index:
    index = Index.create(tmp_path / "index", model=fake)
    index.update([corpus])
    yield index
    index.close()


def test_update_indexes_every_article_and_paragraph(ix: Index, fake: FakeEmbedder) -> None:
    stats = ix.stats()
    assert (stats.articles, stats.passages, stats.vectors) == (3, 5, 5)
    assert stats.model == "fake-hash" and stats.dimension == 64
    assert len(fake.embedded) == 5


def test_ids_come_from_paths_relative_to_the_folders_parent(ix: Index) -> None:
    hits = ix.search("cup final", k=1, mode="lexical")
    assert hits[0].article_id == "news/sport/final.md"
    assert hits[0].title == "Cup final"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_each_mode_finds_the_defining_paragraph(ix: Index, mode: str) -> None:
    top = ix.search("Kataib Hezbollah militia", k=3, mode=mode)[0]
    assert top.text.startswith("Kataib Hezbollah, or Brigades")
    assert top.paragraph == 2
    assert top.rank == 1
    assert top.text == STORIES["iraq.txt"].split("\n\n")[2].strip()


def test_hit_offsets_point_into_the_article_text(ix: Index) -> None:
    hit = ix.search("Bahia cocoa", k=1)[0]
    body = (
        "Showers continued throughout the week in the Bahia cocoa zone.\n\n"
        "Arrivals for the week were 155,221 bags of 60 kilos."
    )
    assert body[hit.start : hit.end] == hit.text


def test_second_run_embeds_nothing(ix: Index, fake: FakeEmbedder, corpus: Path) -> None:
    fake.embedded.clear()
    report = ix.update([corpus])
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 3)
    assert report.passages_embedded == 0 and fake.embedded == []


def test_touched_but_identical_file_embeds_nothing(
    ix: Index, fake: FakeEmbedder, corpus: Path
) -> None:
    os.utime(corpus / "cocoa.txt", ns=(1, 1))
    fake.embedded.clear()
    report = ix.update([corpus])
    assert report.unchanged == 3 and fake.embedded == []


def test_changed_article_is_reembedded_alone(ix: Index, fake: FakeEmbedder, corpus: Path) -> None:
    (corpus / "cocoa.txt").write_text("Cocoa review\n\nDrought hit the Bahia cocoa zone.\n")
    fake.embedded.clear()
    report = ix.update([corpus])
    assert (report.added, report.updated, report.unchanged) == (0, 1, 2)
    assert fake.embedded == ["Cocoa review\nDrought hit the Bahia cocoa zone."]
    assert ix.search("drought", k=1, mode="lexical")[0].article_id == "news/cocoa.txt"
    assert ix.search("showers", k=5, mode="lexical") == []
    stats = ix.stats()
    assert stats.passages == stats.vectors == 4


def test_deleted_file_removes_its_article(ix: Index, corpus: Path) -> None:
    (corpus / "sport" / "final.md").unlink()
    report = ix.update([corpus])
    assert report.removed == 1
    assert ix.search("cup final", k=5, mode="lexical") == []
    assert all(h.article_id != "news/sport/final.md" for h in ix.search("cup final", mode="dense"))
    stats = ix.stats()
    assert (stats.articles, stats.passages, stats.vectors) == (2, 4, 4)


def test_add_keeps_articles_whose_files_are_gone(ix: Index, corpus: Path) -> None:
    (corpus / "sport" / "final.md").unlink()
    assert ix.add([corpus]).removed == 0
    assert ix.stats().articles == 3


def test_indexing_a_subfolder_removes_nothing_outside_it(ix: Index, corpus: Path) -> None:
    report = ix.update([corpus / "sport"])
    assert report.removed == 0
    assert ix.stats().articles == 3


def test_the_report_counts_files_and_articles_by_format(ix: Index, corpus: Path) -> None:
    (corpus / "wire.jsonl").write_text(
        "".join(json.dumps({"title": f"T{i}", "text": f"story {i}"}) + "\n" for i in range(3))
    )
    report = ix.update([corpus])
    assert report.files_by_format == {".txt": 2, ".jsonl": 1, ".md": 1}
    assert report.articles_by_format == {".txt": 2, ".jsonl": 3, ".md": 1}
    assert (report.added, report.unchanged, report.left_out) == (3, 3, ())


def test_a_datasets_note_indexed_before_is_removed_once_left_out(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    folder = write_articles(tmp_path / "bbc", {"SOURCE.md": "# BBC news\n\nLicence: research."})
    (folder / "bbc.jsonl").write_text(json.dumps({"id": "b1", "title": "A", "text": "x"}) + "\n")
    with Index.create(tmp_path / "ix", model=fake) as index:
        # What a run before dataset notes were left out made of this folder.
        index.update([folder / "SOURCE.md", folder / "bbc.jsonl"])
        assert index.stats().articles == 2
        report = index.update([folder])
        assert (report.removed, report.removed_left_out, report.unchanged) == (1, 1, 1)
        assert [(Path(s.path).name, s.reason) for s in report.left_out] == [
            ("SOURCE.md", "dataset note")
        ]
        assert index.stats().articles == 1
        assert index.search("licence research", k=5, mode="lexical") == []


def test_excluded_files_are_removed_and_give_up_their_ids(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "x", "title": "A", "text": "alpha"}) + "\n")
    (folder / "b.jsonl").write_text(json.dumps({"id": "x", "title": "B", "text": "beta"}) + "\n")
    write_articles(folder, {"drafts/d.txt": "Draft\n\nNot yet.", "c.txt": "C\n\ngamma"})
    with Index.create(tmp_path / "ix", model=fake) as index:
        assert index.update([folder]).skip_counts() == {"duplicate id": 1}
        assert index.article("x").title == "A"
        # add() removes nothing, whatever is left out.
        kept = index.add([folder], exclude=["drafts/"])
        assert (kept.removed, index.stats().articles) == (0, 3)
        report = index.update([folder], exclude=["a.jsonl", "drafts"])
        assert (report.removed, report.removed_left_out, report.updated) == (1, 1, 1)
        assert report.skipped == () and report.left_out_counts() == {"--exclude": 2}
        article = index.article("x")  # b.jsonl's copy takes the id: nothing is lost
        assert (article.title, Path(article.path).name) == ("B", "b.jsonl")
        assert index.stats().articles == 2  # x and c
        back = index.update([folder])  # not excluded any more: a.jsonl's x is a duplicate
        assert (back.added, back.removed) == (1, 0) and back.skip_counts() == {"duplicate id": 1}


def test_a_deleted_file_gives_its_ids_to_the_file_that_also_had_them(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "x", "title": "A", "text": "alpha"}) + "\n")
    (folder / "b.jsonl").write_text(json.dumps({"id": "x", "title": "B", "text": "beta"}) + "\n")
    with Index.create(tmp_path / "ix", model=fake) as index:
        index.update([folder])
        index.update([folder])  # b.jsonl unchanged, and still read: it holds a duplicate
        (folder / "a.jsonl").unlink()
        report = index.update([folder])
        assert (report.removed, report.updated) == (0, 1)
        assert index.article("x").title == "B"


def test_a_link_out_of_the_folder_is_not_indexed(tmp_path: Path, fake: FakeEmbedder) -> None:
    secret = write_articles(
        tmp_path / "private", {"shadow": "root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n"}
    )
    folder = write_articles(tmp_path / "news", STORIES)
    os.symlink(secret / "shadow", folder / "shadow.txt")
    with Index.create(tmp_path / "ix", model=fake) as index:
        report = index.update([folder])
        assert report.added == 3 and report.left_out_counts() == {"link outside the folders": 1}
        assert index.search("root", k=5, mode="lexical") == []
        followed = index.update([folder], follow_links=True)
        assert followed.added == 1 and followed.left_out == ()
        assert index.article("news/shadow.txt").title.startswith("root:")
        again = index.update([folder])  # not followed: it goes, as a deleted file would
        assert (again.removed, again.removed_left_out, index.stats().articles) == (1, 1, 3)


def test_an_engine_reads_only_what_discovery_kept(tmp_path: Path, fake: FakeEmbedder) -> None:
    """``--engine ray`` gets its files from the same discovery: nothing left out reaches it."""
    from search.write.planner import Reader

    submitted: list[str] = []

    class Recording(Reader):
        def submit(self, sources: list) -> None:
            submitted.extend(s.path.name for s in sources)

    class Engine:
        def embedder(self, local: FakeEmbedder, model: str) -> FakeEmbedder:
            return local

        def reader(self, settings: object) -> Reader:
            return Recording()

    folder = write_articles(tmp_path / "news", {**STORIES, "SOURCE.md": "# About", ".x.txt": "x"})
    outside = write_articles(tmp_path / "private", {"shadow": "root:*\nbin:*\n"})
    os.symlink(outside / "shadow", folder / "shadow.txt")
    with Index.create(tmp_path / "ix", model=fake) as index:
        report = index.update([folder], exclude=["cocoa.txt"], engine=Engine())
    assert sorted(submitted) == ["final.md", "iraq.txt"]
    assert report.left_out_counts() == {
        "--exclude": 1,
        "dataset note": 1,
        "hidden": 1,
        "link outside the folders": 1,
    }


def test_remove_by_id(ix: Index) -> None:
    report = ix.remove(["news/cocoa.txt", "nope"])
    assert report.removed == ("news/cocoa.txt",) and report.not_found == ("nope",)
    stats = ix.stats()
    assert (stats.articles, stats.passages, stats.vectors) == (2, 3, 3)
    assert ix.search("cocoa", mode="lexical") == []


def test_long_paragraph_is_split_not_truncated(tmp_path: Path, fake: FakeEmbedder) -> None:
    sentence = "The council met again to discuss the new budget for roads. "
    folder = write_articles(tmp_path / "long", {"a.txt": "Budget\n\n" + sentence * 30})
    with Index.create(tmp_path / "ix", model=fake) as index:
        index.update([folder])
        stats = index.stats()
        assert stats.passages > 1
        hits = index.search("council budget roads", k=100, mode="lexical")
        assert "".join(h.text for h in sorted(hits, key=lambda h: h.start)).replace(" ", "") == (
            sentence * 30
        ).replace(" ", "")
        assert all(len(fake.token_spans(h.text)) <= fake.max_tokens for h in hits)


def test_jsonl_records_keep_their_ids_and_dates(tmp_path: Path, fake: FakeEmbedder) -> None:
    records = [
        {"id": "r1", "title": "Oil prices", "text": "Crude oil rose.", "date": "1987-02-26"},
        {"_id": 7, "title": "Grain", "body": "Wheat exports fell."},
    ]
    folder = tmp_path / "wire"
    folder.mkdir()
    (folder / "wire.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    with Index.create(tmp_path / "ix", model=fake) as index:
        index.update([folder])
        hit = index.search("crude oil", k=1, mode="lexical")[0]
        assert hit.article_id == "r1" and hit.published.startswith("1987-02-26")
        assert index.search("wheat", k=1, mode="lexical")[0].article_id == "7"


def test_duplicate_ids_are_skipped_not_lost(tmp_path: Path, fake: FakeEmbedder) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"id": "x", "title": "A", "text": "alpha"}) + "\n")
    (folder / "b.jsonl").write_text(json.dumps({"id": "x", "title": "B", "text": "beta"}) + "\n")
    with Index.create(tmp_path / "ix", model=fake) as index:
        report = index.update([folder])
        assert report.added == 1
        assert report.skip_counts() == {"duplicate id": 1}
        again = index.update([folder])
        assert (again.added, again.updated, again.unchanged) == (0, 0, 1)


def test_bad_files_are_counted_and_good_ones_indexed(
    tmp_path: Path, fake: FakeEmbedder, corpus: Path
) -> None:
    (corpus / "empty.txt").write_text("")
    (corpus / "blob.txt").write_bytes(b"\x00\x01\x02binary\x00" * 10)
    (corpus / "lines.jsonl").write_text('{"title": "ok", "text": "fine text"}\n{broken\n')
    with Index.create(tmp_path / "ix", model=fake) as index:
        report = index.update([corpus])
        assert report.added == 4
        assert report.skip_counts() == {"binary": 1, "empty": 1, "malformed JSON line": 1}


def test_a_file_with_bad_records_keeps_its_old_articles(tmp_path: Path, fake: FakeEmbedder) -> None:
    folder = tmp_path / "feed"
    folder.mkdir()
    good = [json.dumps({"title": f"T{i}", "text": f"story number {i}"}) for i in range(3)]
    (folder / "f.jsonl").write_text("\n".join(good) + "\n")
    with Index.create(tmp_path / "ix", model=fake) as index:
        assert index.update([folder]).added == 3
        (folder / "f.jsonl").write_text("\n".join([good[0], "{oops", good[2]]) + "\n")
        report = index.update([folder])
        assert report.removed == 0 and report.skip_counts() == {"malformed JSON line": 1}
        assert index.stats().articles == 3


def test_missing_and_empty_folders_are_input_errors(tmp_path: Path, fake: FakeEmbedder) -> None:
    (tmp_path / "empty").mkdir()
    with Index.create(tmp_path / "ix", model=fake) as index:
        with pytest.raises(InputError, match="no such file or folder"):
            index.update([tmp_path / "nowhere"])
        with pytest.raises(InputError, match="nothing to index"):
            index.update([tmp_path / "empty"])


def test_queries_of_any_shape_are_safe(ix: Index) -> None:
    """Any text is a list of hits, or, where it breaks the query syntax, one line saying
    where."""
    for text in [
        "NEAR x",
        "*",
        "'; DROP TABLE articles; --",
        "x" * 10_000,
        "🙂🙂",
        "حزب الله",
        "Кataib",
        "\u0000",
    ]:
        for mode in ("hybrid", "dense", "lexical"):
            assert isinstance(ix.search(text, k=3, mode=mode), list)
    for text in ['"', "AND", "OR OR", "(x", "NEAR(x", "a:b", "x)"]:
        for mode in ("hybrid", "dense", "lexical"):
            with pytest.raises(QueryError) as raised:
                ix.search(text, k=3, mode=mode)
            message = str(raised.value)
            assert "\n" not in message
            assert "the query breaks at character" in message or "unknown field 'a'" in message
    for text in ["", "   \n"]:
        with pytest.raises(QueryError, match="empty"):
            ix.search(text)
    with pytest.raises(QueryError, match="mode must be one of"):
        ix.search("x", mode="fuzzy")


def test_reopened_index_answers_the_same(ix: Index, tmp_path: Path) -> None:
    before = ix.search("cocoa bags", k=3)
    with Index.open(tmp_path / "index", model=FakeEmbedder()) as again:
        assert again.search("cocoa bags", k=3) == before


def test_reader_sees_a_writers_commit(ix: Index, tmp_path: Path, corpus: Path) -> None:
    reader = Index.open(tmp_path / "index", model=FakeEmbedder())
    assert reader.search("volcano", mode="lexical") == []
    write_articles(corpus, {"volcano.txt": "Volcano\n\nThe volcano erupted at dawn.\n"})
    ix.update([corpus])
    assert reader.search("volcano", k=1, mode="lexical")[0].article_id == "news/volcano.txt"
    assert reader.search("volcano erupted", k=1, mode="dense")[0].article_id == "news/volcano.txt"
    reader.close()


def test_other_model_is_refused(ix: Index, tmp_path: Path) -> None:
    with pytest.raises(ModelMismatchError, match="was built with model fake-hash"):
        Index.open(tmp_path / "index", model=FakeEmbedder(name="other"))


def test_no_index_here(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="run `newssearch index DIR` first"):
        Index.open(tmp_path / "nothing")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "README.md").write_text("not an index")
    with pytest.raises(IndexNotFoundError):
        Index.open(tmp_path / "folder")


def test_manifest_from_a_newer_version_is_refused(ix: Index, tmp_path: Path) -> None:
    manifest = tmp_path / "index" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexVersionError, match="upgrade newssearch"):
        Index.open(tmp_path / "index")


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_damaged_files_are_reported_as_corrupt(ix: Index, tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "index"
    ix.close()  # a closed index has no write-ahead log left to fall back on
    for victim in [
        folder / "manifest.json",
        folder / "store.sqlite",
        next(folder.glob("seg-*.vec")),
    ]:
        original = victim.read_bytes()
        victim.write_bytes(b"\x13garbage" * 64 if damage == "garbage" else original[:40])
        with pytest.raises(IndexCorruptError):
            with Index.open(folder, model=FakeEmbedder()) as index:
                index.search("cocoa", k=3)
        victim.write_bytes(original)
    with Index.open(folder, model=FakeEmbedder()) as index:
        assert index.search("cocoa", k=1)


def test_a_second_writer_is_locked_out(ix: Index, tmp_path: Path, corpus: Path) -> None:
    with search.storage.folder.lock(tmp_path / "index"):
        with pytest.raises(IndexLockedError, match=f"pid {os.getpid()}"):
            ix.update([corpus])
    assert ix.update([corpus]).unchanged == 3  # the lock is free again


def _fail(*args: object, **kwargs: object) -> None:
    raise OSError("disk full (injected)")


@pytest.mark.parametrize(
    "target",
    [
        "search.write.writer.build_segment",
        "search.storage.database.Store.set_meta",
        "search.storage.database.Store.set_source",
    ],
)
def test_a_failed_commit_leaves_the_previous_index_whole(
    ix: Index,
    tmp_path: Path,
    corpus: Path,
    fake: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    before = ix.search("cocoa", k=5)
    files = sorted(p.name for p in (tmp_path / "index").iterdir())
    (corpus / "cocoa.txt").write_text("Cocoa review\n\nDrought hit the Bahia cocoa zone.\n")
    with monkeypatch.context() as patch:
        patch.setattr(target, _fail)
        with pytest.raises(IndexWriteError, match="disk full \\(injected\\)"):
            ix.update([corpus])
    with Index.open(tmp_path / "index", model=FakeEmbedder()) as reader:
        assert reader.search("cocoa", k=5) == before
        assert reader.stats().passages == reader.stats().vectors == 5
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == files
    report = ix.update([corpus])
    assert report.updated == 1
    assert ix.search("drought", k=1, mode="lexical")[0].article_id == "news/cocoa.txt"


def test_a_kill_after_the_store_commit_loses_nothing(
    ix: Index, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_articles(corpus, {"volcano.txt": "Volcano\n\nThe volcano erupted at dawn.\n"})
    with monkeypatch.context() as patch:
        patch.setattr(search.write.writer.Writer, "write_manifest", _fail)
        with pytest.raises(IndexWriteError):
            ix.update([corpus])
    with Index.open(tmp_path / "index", model=FakeEmbedder()) as reader:
        assert reader.search("volcano", k=1, mode="lexical")[0].article_id == "news/volcano.txt"
        stats = reader.stats()
        assert (stats.articles, stats.passages, stats.vectors) == (4, 6, 6)
    # The next writer rewrites the manifest the kill left behind.
    ix.update([corpus])
    recorded = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert recorded["counts"] == {"articles": 4, "passages": 6}


def test_long_runs_commit_in_steps_and_resume(
    tmp_path: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_articles(
        tmp_path / "many",
        {f"{i:03}.txt": f"Story {i}\n\nWord{i} happened today.\n" for i in range(40)},
    )
    monkeypatch.setattr(search.write.writer, "EMBED_BATCH", 5)
    monkeypatch.setattr(search.write.writer, "COMMIT_PASSAGES", 10)
    calls = {"n": 0}
    real_build = search.write.writer.build_segment

    def build_then_die(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if Ctrl-C arrived during the third commit
        return real_build(*args, **kwargs)

    with Index.create(tmp_path / "ix", model=fake) as index:
        with monkeypatch.context() as patch:
            patch.setattr(search.write.writer, "build_segment", build_then_die)
            with pytest.raises(KeyboardInterrupt):
                index.update([folder])
        assert index.stats().articles == 20  # two commits of ten made it
        fake.embedded.clear()
        report = index.update([folder])
        assert (report.added, report.unchanged) == (20, 20)
        assert len(fake.embedded) == 20 and report.commits == 2
        stats = index.stats()
        assert (stats.articles, stats.passages, stats.vectors) == (40, 40, 40)


def test_vectors_match_a_brute_force_search(ix: Index, fake: FakeEmbedder) -> None:
    hits = ix.search("week cocoa militia", k=5, mode="dense")
    query = fake.embed(["week cocoa militia"])[0]
    # Passages are embedded after their article's title (TITLE_CONTEXT).
    embedded = fake.embed([f"{h.title}\n{h.text}" for h in hits])
    exact = sorted((float(v) for v in embedded @ query), reverse=True)
    assert [round(h.score, 5) for h in hits] == [round(s, 5) for s in exact]


def test_a_missing_vector_file_is_reported_as_corrupt(ix: Index, tmp_path: Path) -> None:
    next((tmp_path / "index").glob("seg-*.vec")).unlink()
    with Index.open(tmp_path / "index", model=FakeEmbedder()) as index:
        for read in (index.stats, lambda: index.search("cocoa", mode="dense")):
            with pytest.raises(IndexCorruptError, match="is missing — rebuild the index"):
                read()
        # Full-text search needs no vectors: it still answers.
        assert index.search("cocoa", mode="lexical")[0].article_id == "news/cocoa.txt"


def test_the_same_folder_spelled_another_way_is_the_same_folder(
    ix: Index, corpus: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(corpus / "sport")
    fake.embedded.clear()
    report = ix.update([Path("..") / ".." / "news"])
    assert (report.added, report.removed, report.unchanged, report.skipped) == (0, 0, 3, ())
    assert fake.embedded == []


def test_title_context_is_embedded_and_fits_the_window(tmp_path: Path) -> None:
    fake = FakeEmbedder(max_tokens=40)
    title = "Volcano erupts"
    body = " ".join(f"Sentence {i} is here." for i in range(12))
    folder = write_articles(tmp_path / "t", {"a.txt": f"{title}\n\n{body}\n"})
    with Index.create(tmp_path / "ix", model=fake, title_context=True) as index:
        index.update([folder])
        assert all(text.startswith(f"{title}\n") for text in fake.embedded)
        assert all(len(fake.token_spans(text)) <= 40 for text in fake.embedded)
        hits = index.search("sentence", k=50, mode="lexical")
        assert sorted(h.start for h in hits)[0] == 0
        assert all(not h.text.startswith(title) for h in hits)  # the passage is still the text
    assert json.loads((tmp_path / "ix" / "manifest.json").read_text())["settings"] == {
        "title_context": True,
        "passage_tokens": 40,
        "compact": False,
        "chunking": 2,
    }


def test_passage_tokens_caps_passage_length(tmp_path: Path, fake: FakeEmbedder) -> None:
    body = " ".join(f"Sentence {i} is here." for i in range(12))
    folder = write_articles(tmp_path / "t", {"a.txt": f"Title\n\n{body}\n"})
    with Index.create(tmp_path / "ix", model=fake, passage_tokens=16) as index:
        index.update([folder])
        assert len(fake.embedded) > 3
        assert all(len(fake.token_spans(text)) <= 16 for text in fake.embedded)
    with pytest.raises(InputError, match="at least 16"):
        Index.create(tmp_path / "other", model=fake, passage_tokens=3)


LISTED = (
    "Budget day\n\nThe chancellor set out his plans for the year ahead on Wednesday.\n\n"
    "- A freeze on petrol duty\n\n- A higher stamp duty threshold\n"
)


def _set_chunking(index: Path, value: str | None) -> None:
    """Make the index's store say its chunking rules are ``value`` (None: not said, as in an
    index from before they were kept)."""
    with contextlib.closing(sqlite3.connect(index / "store.sqlite")) as db, db:
        db.execute("DELETE FROM meta WHERE key = 'chunking'")
        if value is not None:
            db.execute("INSERT INTO meta (key, value) VALUES ('chunking', ?)", (value,))


def _passages(index: Index, article_id: str) -> int:
    return index.article(article_id).passages


def test_an_index_keeps_cutting_articles_by_the_rules_it_was_made_with(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    folder = write_articles(tmp_path / "news", {"budget.txt": LISTED})
    Index.create(tmp_path / "new", model=fake).close()
    Index.create(tmp_path / "old", model=fake).close()
    _set_chunking(tmp_path / "old", None)  # made before chunking rules were kept: rules 1
    with (
        Index.open(tmp_path / "new", model=fake) as new,
        Index.open(tmp_path / "old", model=fake) as old,
    ):
        new.update([folder])
        old.update([folder])
        assert _passages(new, "news/budget.txt") == 1  # the list joins its lead-in
        assert _passages(old, "news/budget.txt") == 3  # as every other article of the index
    settings = json.loads((tmp_path / "old" / "manifest.json").read_text())["settings"]
    assert settings["chunking"] == 1


def test_an_index_cut_by_newer_rules_is_read_but_not_added_to(
    tmp_path: Path, fake: FakeEmbedder
) -> None:
    folder = write_articles(tmp_path / "news", {"budget.txt": LISTED})
    with Index.create(tmp_path / "ix", model=fake) as index:
        index.update([folder])
    _set_chunking(tmp_path / "ix", "3")
    with Index.open(tmp_path / "ix", model=fake) as index:
        assert index.search("petrol duty", k=1, mode="lexical")[0].article_id == "news/budget.txt"
        with pytest.raises(IndexVersionError, match="chunking rules 3; .* upgrade newssearch"):
            index.update([folder])


@pytest.mark.parametrize("compact", [False, True])
def test_segments_merge_by_policy_and_search_stays_exact_under_updates(
    tmp_path: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch, compact: bool
) -> None:
    import search.storage.segments

    monkeypatch.setattr(search.storage.segments, "FLAT_LIMIT", 100)  # merged segments become IVF
    monkeypatch.setattr(
        search.storage.segments, "_MIN_PROBES", 64
    )  # probe every list: exact answers
    monkeypatch.setattr(search.storage.segments, "MERGE_FACTOR", 3)
    monkeypatch.setattr(search.storage.segments, "TIER_FLOOR", 30)
    words = [f"topic{i}" for i in range(40)]
    stories = {
        f"s{n}.txt": f"Story {n}\n\n"
        + "\n\n".join(
            f"{words[(n + p) % 40]} {words[(3 * n + p) % 40]} report filed today." for p in range(4)
        )
        for n in range(30)
    }
    folder = tmp_path / "big"
    manifest = tmp_path / "ix" / "manifest.json"
    with Index.create(tmp_path / "ix", model=fake, compact=compact) as index:
        for first in range(0, 30, 5):  # six runs of five articles: six small segments
            write_articles(folder, {n: stories[n] for n in list(stories)[first : first + 5]})
            index.update([folder])
        stats = index.stats()
        assert stats.passages == stats.vectors == 120
        # Three 20-row segments fill the lowest tier and are merged, twice over.
        assert stats.segments < 6
        recorded = json.loads(manifest.read_text())["vectors"]
        assert sum(s["rows"] for s in recorded["segments"]) == 120
        assert len(recorded["segments"]) == stats.segments
        _assert_dense_is_brute_force(index, fake, "topic7 topic21")

        # Removals are masked at once, and merged away later.
        for n in range(30):
            (folder / f"s{n}.txt").unlink() if n % 3 else None
        assert index.update([folder]).removed == 20
        stats = index.stats()
        assert stats.passages == stats.vectors == 40
        _assert_dense_is_brute_force(index, fake, "topic7 topic21")
        hits = index.search("topic7 topic21", k=50, mode="dense")
        assert {h.article_id for h in hits} <= {f"big/s{n}.txt" for n in range(0, 30, 3)}

        assert index.optimize() >= 1
        stats = index.stats()
        assert (stats.segments, stats.deleted_vectors, stats.vectors) == (1, 0, 40)
        assert stats.vector_layout == ("flat-sq8" if compact else "flat")
        _assert_dense_is_brute_force(index, fake, "topic7 topic21")
        assert index.check().ok
    with Index.open(tmp_path / "ix", model=fake) as again:
        assert again.stats().segments == 1
    with pytest.raises(InputError, match="--compact"):
        Index.open_or_create(tmp_path / "ix", model=fake, compact=not compact)


def test_a_merged_segment_over_the_limit_is_ivf(
    tmp_path: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import search.storage.segments

    monkeypatch.setattr(search.storage.segments, "FLAT_LIMIT", 50)
    monkeypatch.setattr(search.storage.segments, "_MIN_PROBES", 64)
    stories = {f"s{n}.txt": f"Story {n}\n\nword{n} topic{n % 7} report\n" for n in range(80)}
    with Index.create(tmp_path / "ix", model=fake) as index:
        index.update([write_articles(tmp_path / "big", stories)])
        index.remove([f"big/s{n}.txt" for n in range(0, 80, 4)])
        index.optimize()
        stats = index.stats()
        assert (stats.vector_layout, stats.vectors, stats.segments) == ("ivf", 60, 1)
        _assert_dense_is_brute_force(index, fake, "topic3 report")


def _assert_dense_is_brute_force(index: Index, fake: FakeEmbedder, query: str) -> None:
    """The dense top 10 against the true top 10 over every stored passage."""
    every = index.search("report", k=10_000, mode="lexical")
    texts = [f"{h.title}\n{h.text}" for h in every]
    scores = fake.embed(texts) @ fake.embed([query])[0]
    truth = sorted(scores.tolist(), reverse=True)[:10]
    found = [h.score for h in index.search(query, k=10, mode="dense")]
    assert np.allclose(found, truth, atol=0.02 if index.settings.compact else 1e-5)
