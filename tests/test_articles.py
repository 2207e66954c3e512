"""Tests for search.ingest: finding files and reading them into articles."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from search.errors import InputError
from search.ingest.article import Article, Skip, SourceFile
from search.ingest.discover import SUPPORTED_SUFFIXES, discover
from search.ingest.paragraphs import split_paragraphs
from search.ingest.read import read_source

SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED = SHARED / "seeds" / "000_815593e774ae9b48.txt"
SCIFACT = SHARED / "data" / "beir_scifact" / "corpus.jsonl.gz"


def read(tmp_path: Path, name: str, content: str | bytes) -> tuple[list[Article], list[Skip]]:
    """Write ``content`` to ``tmp_path/name`` and read it."""
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return read_source(SourceFile(path, name))


def read_one(tmp_path: Path, name: str, content: str | bytes) -> Article:
    articles, skips = read(tmp_path, name, content)
    assert skips == []
    assert len(articles) == 1
    return articles[0]


def read_skip(tmp_path: Path, name: str, content: str | bytes) -> Skip:
    articles, skips = read(tmp_path, name, content)
    assert articles == []
    assert len(skips) == 1
    assert skips[0].path == str(tmp_path / name)
    return skips[0]


def jsonl(*records: object) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


# --- split_paragraphs


def test_blank_lines_separate_paragraphs_and_inner_breaks_join():
    text = "First line\nstill first.  \n\nSecond.\n\n\n  Third\n  wraps here.\n"
    assert split_paragraphs(text) == ["First line still first.", "Second.", "Third wraps here."]


def test_without_blank_lines_each_line_is_a_paragraph():
    assert split_paragraphs("One.\nTwo.  \n  Three.") == ["One.", "Two.", "Three."]


def test_blank_lines_at_the_ends_do_not_switch_to_paragraph_mode():
    assert split_paragraphs("\n\n One.\nTwo.\n\n\n") == ["One.", "Two."]


def test_whitespace_only_lines_count_as_blank_and_crlf_is_normalised():
    assert split_paragraphs("A\r\nB\r\n \t \r\nC\rD") == ["A B", "C D"]


def test_nothing_gives_no_paragraphs():
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\t\n") == []


# --- plain text and Markdown


def test_txt_title_and_blank_line_paragraphs(tmp_path):
    content = "\n  My title  \n\nFirst paragraph\ngoes on.\n\nSecond paragraph.\n"
    article = read_one(tmp_path, "story.txt", content)
    assert article == Article(
        id="story.txt",
        title="My title",
        text="First paragraph goes on.\n\nSecond paragraph.",
        path=str(tmp_path / "story.txt"),
    )


def test_txt_with_single_line_breaks_makes_one_paragraph_per_line(tmp_path):
    article = read_one(tmp_path, "a.txt", "Title\nLine one.\nLine two.\r\nLine three.\r\n")
    assert article.title == "Title"
    assert article.text == "Line one.\n\nLine two.\n\nLine three."


def test_txt_with_only_a_title_has_no_text(tmp_path):
    skip = read_skip(tmp_path, "a.txt", "Just a title\n\n  \n")
    assert skip.reason == "no text"


def test_real_seed_article():
    if not SEED.exists():
        pytest.skip(f"shared seed article not found at {SEED}")
    articles, skips = read_source(SourceFile(SEED, "seeds/" + SEED.name))
    assert skips == []
    [article] = articles
    assert article.id == "seeds/000_815593e774ae9b48.txt"
    assert article.title == "Iraq condemns 'irresponsible' US air strikes on Iran-backed groups"
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) > 10
    assert paragraphs[1].startswith("A spokesperson for Iraqi Prime Minister")
    assert all(p and p == p.strip() and "\n" not in p for p in paragraphs)


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("# The headline\n\nBody.", "The headline"),
        ("##   Closed headline ##\nBody.", "Closed headline"),
        ("# Learning C#\nBody.", "Learning C#"),
        ("Setext headline\n===============\nBody.", "Setext headline"),
    ],
)
def test_md_title(tmp_path, content, title):
    article = read_one(tmp_path, "a.md", content)
    assert article.title == title
    assert article.text == "Body."


def test_md_keeps_markdown_in_the_body(tmp_path):
    article = read_one(tmp_path, "a.md", "# T\n\nSome *emphasis*.\n\n## Section\n\nMore.")
    assert article.text == "Some *emphasis*.\n\n## Section\n\nMore."


# --- JSON Lines and JSON


def test_jsonl_ids_from_id_or__id_or_line_number(tmp_path):
    content = jsonl(
        {"id": "a1", "title": "First", "text": "One."},
        {"_id": 7, "title": "Second", "text": "Two."},
    )
    content += "\n   \n" + jsonl({"text": "Three.", "date": "2024-01-02", "url": "https://x.org/3"})
    articles, skips = read(tmp_path, "news.jsonl", content)
    assert skips == []
    assert [a.id for a in articles] == ["a1", "7", "news.jsonl#5"]
    assert [a.title for a in articles] == ["First", "Second", ""]
    assert articles[2].published == "2024-01-02"
    assert articles[2].url == "https://x.org/3"
    assert {a.path for a in articles} == {str(tmp_path / "news.jsonl")}
    assert {a.source for a in articles} == {None}


def test_jsonl_body_and_content_are_aliases_of_text(tmp_path):
    content = jsonl(
        {"id": "b", "body": "From body."},
        {"id": "c", "content": "From content."},
        {"id": "t", "text": "From text.", "body": "Not this."},
        {"id": "n", "text": None, "content": "Null text falls through."},
    )
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert skips == []
    assert [a.text for a in articles] == [
        "From body.",
        "From content.",
        "From text.",
        "Null text falls through.",
    ]


def test_jsonl_record_text_goes_through_the_paragraph_rule(tmp_path):
    content = jsonl({"id": "x", "title": " Two\n lines ", "text": "A\nb.\r\n\r\nC.\n"})
    article = read_one(tmp_path, "a.jsonl", content)
    assert article.title == "Two lines"
    assert article.text == "A b.\n\nC."


def test_jsonl_gz(tmp_path):
    content = jsonl({"id": "z", "title": "Zipped", "text": "Compressed body."})
    article = read_one(tmp_path, "a.jsonl.gz", gzip.compress(content.encode()))
    assert (article.id, article.title, article.text) == ("z", "Zipped", "Compressed body.")


def test_malformed_lines_are_skipped_and_the_rest_is_read(tmp_path):
    content = (
        jsonl({"id": "ok1", "text": "Good."})
        + '{"id": "broken", "text": \n'
        + "not json at all\n"
        + jsonl({"id": "ok2", "text": "Also good."})
    )
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert [a.id for a in articles] == ["ok1", "ok2"]
    assert [s.reason for s in skips] == ["malformed JSON line"] * 2
    assert skips[0].detail.startswith("line 2: ")
    assert skips[1].detail.startswith("line 3: ")


def test_all_lines_malformed_still_reports_each(tmp_path):
    articles, skips = read(tmp_path, "a.jsonl", "{\n[\n")
    assert articles == []
    assert [s.detail.split(":")[0] for s in skips] == ["line 1", "line 2"]


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        (["a", "list"], "line 1: expected an object, got an array"),
        ("a string", "line 1: expected an object, got a string"),
        ({"text": 42}, "line 1: 'text' is a number, expected string"),
        ({"text": "ok", "title": ["x"]}, "line 1: 'title' is an array, expected string"),
        ({"body": {"p": 1}}, "line 1: 'body' is an object, expected string"),
        ({"id": 1.5, "text": "ok"}, "line 1: 'id' is a number, expected string or integer"),
        ({"_id": True, "text": "ok"}, "line 1: '_id' is a boolean, expected string or integer"),
    ],
)
def test_wrong_types_are_invalid_records(tmp_path, record, detail):
    skip = read_skip(tmp_path, "a.jsonl", jsonl(record))
    assert (skip.reason, skip.detail) == ("invalid record", detail)


def test_metadata_of_the_wrong_type_is_dropped_not_fatal(tmp_path):
    article = read_one(tmp_path, "a.jsonl", jsonl({"text": "ok", "date": 1987, "url": []}))
    assert (article.published, article.unparsed_date, article.url) == (None, "1987", None)
    assert article.fields == {}


def test_records_without_text_or_title_are_skipped(tmp_path):
    content = jsonl({"id": "e", "text": "  \n "}, {"title": " "}, {"id": "ok", "text": "Yes."})
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert [a.id for a in articles] == ["ok"]
    assert [(s.reason, s.detail) for s in skips] == [
        ("no text", "line 1 (id e)"),
        ("no text", "line 2"),
    ]


def test_a_record_with_a_title_and_no_text_is_its_title(tmp_path):
    content = jsonl({"id": "brief", "title": " BRIEF\n HEADLINE ", "text": ""}, {"title": "T"})
    articles, skips = read(tmp_path, "a.jsonl", content)
    assert skips == []
    assert [(a.id, a.title, a.text) for a in articles] == [
        ("brief", "BRIEF HEADLINE", "BRIEF HEADLINE"),
        ("a.jsonl#2", "T", "T"),
    ]


def test_json_list_numbers_records_by_position(tmp_path):
    records = [{"id": "a", "text": "One."}, {"title": "T", "content": "Two."}]
    articles, skips = read(tmp_path, "list.json", json.dumps(records, indent=2))
    assert skips == []
    assert [(a.id, a.title, a.text) for a in articles] == [
        ("a", "", "One."),
        ("list.json#2", "T", "Two."),
    ]


def test_json_single_object(tmp_path):
    article = read_one(tmp_path, "one.json", json.dumps({"title": "Only", "body": "Body."}))
    assert (article.id, article.title, article.text) == ("one.json#1", "Only", "Body.")


def test_json_object_with_articles_list_gz(tmp_path):
    data = {"source": "feed", "articles": [{"id": 1, "text": "A."}, {"id": 2, "text": "B."}]}
    articles, skips = read(tmp_path, "f.json.gz", gzip.compress(json.dumps(data).encode()))
    assert skips == []
    # The wrapper's outlet is its articles' outlet.
    assert [(a.id, a.path, a.source) for a in articles] == [
        ("1", str(tmp_path / "f.json.gz"), "feed"),
        ("2", str(tmp_path / "f.json.gz"), "feed"),
    ]


def test_json_bad_record_in_list_is_named_by_position(tmp_path):
    content = json.dumps([{"text": "ok"}, 3, {"text": ""}])
    articles, skips = read(tmp_path, "a.json", content)
    assert [a.id for a in articles] == ["a.json#1"]
    assert [(s.reason, s.detail) for s in skips] == [
        ("invalid record", "record 2: expected an object, got a number"),
        ("no text", "record 3"),
    ]


def test_broken_json_file_gives_line_and_column(tmp_path):
    skip = read_skip(tmp_path, "a.json", '[\n  {"text": "x"},\n  {"text" "y"}\n]')
    assert skip.reason == "malformed JSON line"
    assert skip.detail.startswith("line 3 col 11: Expecting ':' delimiter")


def test_json_of_the_wrong_shape(tmp_path):
    assert read_skip(tmp_path, "a.json", "42").reason == "invalid record"
    assert read_skip(tmp_path, "b.json", "[]").reason == "empty"


# --- bytes and decoding


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.txt", b"", "empty"),
        ("a.jsonl", b"", "empty"),
        ("a.txt", b"  \n\t\r\n  ", "empty"),
        ("a.jsonl.gz", gzip.compress(b"\n\n"), "empty"),
        ("a.txt", b"Title\nsome\x00binary\x00stuff\x01\x02", "binary"),
        ("a.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("a.txt", bytes(range(0x80, 0x100)) * 4, "undecodable"),
        ("a.jsonl.gz", b"this is not gzip", "unreadable"),
        ("a.json.gz", gzip.compress(b'{"text": "x"}\n' * 100)[:-12], "unreadable"),
    ],
)
def test_unusable_bytes(tmp_path, name, content, reason):
    assert read_skip(tmp_path, name, content).reason == reason


def test_gzip_problems_say_what_is_wrong(tmp_path):
    assert read_skip(tmp_path, "a.json.gz", b"plain").detail == "not a valid gzip file"
    truncated = gzip.compress(b'{"text": "x"}' * 100)[:20]
    assert read_skip(tmp_path, "b.json.gz", truncated).detail == "truncated gzip file"


def test_a_truncated_jsonl_gz_keeps_the_lines_before_the_break(tmp_path):
    content = gzip.compress(jsonl(*({"text": f"Line {n}."} for n in range(1, 2001))).encode())
    articles, skips = read(tmp_path, "a.jsonl.gz", content[: len(content) // 2])
    assert 0 < len(articles) < 2000
    assert [a.text for a in articles[:2]] == ["Line 1.", "Line 2."]
    assert [(s.reason, s.detail) for s in skips] == [("unreadable", "truncated gzip file")]


def test_windows_1252_is_decoded(tmp_path):
    article = read_one(tmp_path, "a.txt", "café £5\nLe café coûte £5 — naïve.".encode("cp1252"))
    assert article.title == "café £5"
    assert article.text == "Le café coûte £5 — naïve."


def test_other_legacy_encodings_are_not_forced_into_windows_1252(tmp_path):
    text = "Привет мир\nЭто новости на русском языке, и их нужно прочитать правильно."
    article = read_one(tmp_path, "a.txt", text.encode("cp1251"))
    assert article.title == "Привет мир"


def test_utf8_bom_is_stripped(tmp_path):
    article = read_one(tmp_path, "a.txt", b"\xef\xbb\xbfTitle\nBody.")
    assert article.title == "Title"
    content = b"\xef\xbb\xbf" + jsonl({"id": "j", "text": "Body."}).encode()
    assert read_one(tmp_path, "a.jsonl", content).id == "j"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom(tmp_path, codec):
    bom = "\ufeff" if codec != "utf-16" else ""  # the "utf-16" codec writes its own
    content = (bom + "Tïtle\r\nBody ünïcode.\r\n").encode(codec)
    article = read_one(tmp_path, "a.txt", content)
    assert (article.title, article.text) == ("Tïtle", "Body ünïcode.")


# --- HTML

PAGE = """<!DOCTYPE html>
<html><head><title>Storm hits coast | Example News</title>
<meta property="article:published_time" content="2024-01-25T10:00:00Z">
<style>body { color: red; } .secret-style { display: none; }</style>
<script>var tracker = "SCRIPT-SECRET"; function f() { return 1; }</script>
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article>
<h1>Storm hits coast</h1>
<p>A powerful storm reached the coast on Thursday, bringing heavy rain and strong winds.</p>
<script>document.write("INLINE-SECRET");</script>
<p>Officials said thousands of homes
were left without power as the storm moved inland overnight.</p>
</article>
<footer>Copyright 2024 Example News</footer>
</body></html>
"""


def test_html_main_text_title_and_date(tmp_path):
    article = read_one(tmp_path, "storm.html", PAGE)
    assert article.id == "storm.html"
    assert article.title == "Storm hits coast"
    assert article.published == "2024-01-25"
    assert article.text == (
        "A powerful storm reached the coast on Thursday, bringing heavy rain and strong winds."
        "\n\nOfficials said thousands of homes were left without power as the storm moved"
        " inland overnight."
    )
    for unwanted in ("SECRET", "secret-style", "function", "Copyright"):
        assert unwanted not in article.text


def test_html_fragment_without_title_uses_the_file_name(tmp_path):
    # A lone element: trafilatura by itself would reject this as "not HTML".
    content = "<p>A fragment holding a single paragraph of news.</p>"
    article = read_one(tmp_path, "fragment.htm", content)
    assert article.title == "fragment"
    assert article.text == "A fragment holding a single paragraph of news."


def test_html_with_nothing_but_scripts_has_no_text(tmp_path):
    content = (
        "<html><head><script>var x = 1;</script></head><body><script>y()</script></body></html>"
    )
    assert read_skip(tmp_path, "a.html", content).reason == "no text"


# --- unreadable files


def test_unreadable_file_reports_the_os_error(tmp_path):
    (tmp_path / "folder.txt").mkdir()
    skip = read_source(SourceFile(tmp_path / "folder.txt", "folder.txt"))[1][0]
    assert (skip.reason, skip.detail) == ("unreadable", "Is a directory")


def test_permission_denied_is_unreadable(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text("Title\nBody.")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    skip = read_source(SourceFile(path, "a.txt"))[1][0]
    assert (skip.reason, skip.detail) == ("unreadable", "Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_is_unreadable(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("Title\nBody.")
    path.chmod(0)
    skip = read_source(SourceFile(path, "a.txt"))[1][0]
    assert skip.reason == "unreadable"


def test_read_source_refuses_an_unsupported_type(tmp_path):
    assert read_skip(tmp_path, "a.csv", "a,b\n").reason == "unsupported type"


# --- discover


def make_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_supported_suffixes():
    assert set(SUPPORTED_SUFFIXES) == {
        ".txt",
        ".md",
        ".jsonl",
        ".jsonl.gz",
        ".json",
        ".json.gz",
        ".html",
        ".htm",
        ".rss",
        ".atom",
        ".xml",
        ".warc",
        ".warc.gz",
    }


def test_discover_walks_sorted_and_ids_are_relative_to_the_folder_parent(tmp_path, monkeypatch):
    news = tmp_path / "news"
    make_tree(news, {"b.txt": "x", "a/z.md": "x", "a/y.JSON": "x", "c.jsonl.gz": "x"})
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    found = discover(["../news"])
    files, skips = found.files, found.skips
    assert skips == []
    assert [f.id_base for f in files] == [
        "news/a/y.JSON",
        "news/a/z.md",
        "news/b.txt",
        "news/c.jsonl.gz",
    ]
    assert files[0].path == Path.cwd().parent / "news/a/y.JSON"  # absolute, ".." folded
    assert all(f.path.is_absolute() for f in files)


def test_discover_a_single_file_uses_its_name(tmp_path, monkeypatch):
    make_tree(tmp_path, {"deep/er/story.txt": "x"})
    monkeypatch.chdir(tmp_path)
    found = discover([Path("deep/er/story.txt")])
    files, skips = found.files, found.skips
    assert (files, skips) == (
        [SourceFile(tmp_path / "deep/er/story.txt", "story.txt", "story")],
        [],
    )


def test_discover_dot_is_named_after_the_current_folder(tmp_path, monkeypatch):
    make_tree(tmp_path / "here", {"a.txt": "x"})
    monkeypatch.chdir(tmp_path / "here")
    files = discover(["."]).files
    assert [f.id_base for f in files] == ["here/a.txt"]


def test_discover_skips_unsupported_and_ignores_hidden(tmp_path):
    make_tree(tmp_path, {"a.txt": "x", "photo.jpg": "x", ".hidden.txt": "x", ".git/b.txt": "x"})
    found = discover([tmp_path])
    files, skips = found.files, found.skips
    assert [f.path.name for f in files] == ["a.txt"]
    assert skips == [Skip(str(tmp_path / "photo.jpg"), "unsupported type")]


def test_discover_missing_path_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file or folder: .*nope"):
        discover([tmp_path / "nope"])


def test_discover_validates_every_path_before_walking(tmp_path):
    make_tree(tmp_path, {"a.txt": "x"})
    with pytest.raises(InputError):
        discover([tmp_path, tmp_path / "missing"])


def test_discover_single_unsupported_file_is_an_input_error(tmp_path):
    make_tree(tmp_path, {"data.csv": "x"})
    with pytest.raises(InputError, match=r"not a supported file type \(supported: .txt, .md,"):
        discover([tmp_path / "data.csv"])


def test_discover_symlink_loop_terminates_with_one_skip(tmp_path):
    make_tree(tmp_path, {"news/a.txt": "x", "news/sub/b.txt": "x"})
    os.symlink("..", tmp_path / "news/sub/loop")
    found = discover([tmp_path / "news"])
    files, skips = found.files, found.skips
    assert [f.id_base for f in files] == ["news/a.txt", "news/sub/b.txt"]
    assert [(s.path, s.reason) for s in skips] == [
        (str(tmp_path / "news/sub/loop"), "symlink loop")
    ]


def test_discover_follows_symlinks_but_takes_each_real_file_once(tmp_path):
    make_tree(tmp_path, {"news/a.txt": "x", "elsewhere/b.txt": "x"})
    os.symlink(tmp_path / "news/a.txt", tmp_path / "news/c-link.txt")
    os.symlink(tmp_path / "elsewhere", tmp_path / "news/linked")
    found = discover([tmp_path / "news", tmp_path / "news/a.txt", tmp_path / "elsewhere"])
    files, skips = found.files, found.skips
    assert skips == []
    assert [f.id_base for f in files] == ["news/a.txt", "news/linked/b.txt"]


def test_discover_broken_symlink(tmp_path):
    make_tree(tmp_path, {"news/a.txt": "x"})
    os.symlink(tmp_path / "gone.txt", tmp_path / "news/broken.txt")
    found = discover([tmp_path / "news"])
    files, skips = found.files, found.skips
    assert [f.id_base for f in files] == ["news/a.txt"]
    assert skips == [Skip(str(tmp_path / "news/broken.txt"), "unreadable", "broken symlink")]


def test_discover_unreadable_folder(tmp_path, monkeypatch):
    make_tree(tmp_path, {"news/a.txt": "x", "news/locked/b.txt": "x"})
    locked = tmp_path / "news/locked"
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover([tmp_path / "news"])
    files, skips = found.files, found.skips
    assert [f.id_base for f in files] == ["news/a.txt"]
    assert skips == [Skip(str(locked), "unreadable", "Permission denied")]


def left_out(found) -> list[tuple[str, str]]:
    """What a walk left out by rule, as (path relative to its folder's parent, reason)."""
    return sorted((s.path.split("/news/", 1)[-1], s.reason) for s in found.left_out)


def test_discover_leaves_out_a_datasets_notes_beside_its_data(tmp_path):
    notes = ["SOURCE.md", "README", "readme.rst", "License.txt", "LICENCE", "CHANGELOG.md"]
    make_tree(tmp_path / "news", {name: "# About this dataset\n\nLicence." for name in notes})
    make_tree(tmp_path / "news", {"data.jsonl": "{}", "README.txt.bak": "x"})
    found = discover([tmp_path / "news"])
    assert [f.id_base for f in found.files] == ["news/data.jsonl"]
    assert left_out(found) == sorted((name, "dataset note") for name in notes)
    assert found.skips == [Skip(str(tmp_path / "news/README.txt.bak"), "unsupported type")]


def test_the_bbc_datasets_source_note_is_not_an_article():
    folder = SHARED / "data" / "bbc_news"
    if not folder.exists():
        pytest.skip(f"shared BBC News not found at {folder}")
    found = discover([folder])
    assert [f.id_base for f in found.files] == ["bbc_news/bbc_news.jsonl.gz"]
    assert found.left_out == [Skip(str(folder / "SOURCE.md"), "dataset note", "beside data files")]


def test_discover_keeps_the_readme_of_a_folder_of_markdown_notes(tmp_path):
    make_tree(tmp_path / "notes", {"README.md": "# Notes", "a.md": "# A", "sub/b.md": "# B"})
    make_tree(tmp_path / "notes", {"sub/README.md": "# Sub", "sub/data.jsonl": "{}"})
    found = discover([tmp_path / "notes"])
    assert [f.id_base for f in found.files] == [
        "notes/README.md",
        "notes/a.md",
        "notes/sub/b.md",
        "notes/sub/data.jsonl",
    ]
    assert [(s.path, s.reason) for s in found.left_out] == [
        (str(tmp_path / "notes/sub/README.md"), "dataset note")
    ]


def test_discover_counts_hidden_entries_and_reads_what_is_named(tmp_path):
    make_tree(tmp_path / "news", {"a.txt": "x", ".DS_Store": "x", ".git/b.txt": "x"})
    make_tree(tmp_path / "news", {"SOURCE.md": "x", ".draft.txt": "x"})
    found = discover([tmp_path / "news"])
    assert [f.id_base for f in found.files] == ["news/a.txt"]
    assert left_out(found) == [
        (".DS_Store", "hidden"),
        (".draft.txt", "hidden"),
        (".git", "hidden"),
        ("SOURCE.md", "dataset note"),
    ]
    named = discover([tmp_path / "news/.draft.txt", tmp_path / "news/SOURCE.md"])
    assert [f.id_base for f in named.files] == [".draft.txt", "SOURCE.md"]
    assert named.left_out == []


def test_exclude_patterns_are_gitignore_globs_relative_to_each_folder(tmp_path):
    files = ["a.txt", "top.txt", "drafts/b.txt", "x/drafts/c.txt", "x/top.txt", "x/d.tmp.md"]
    make_tree(tmp_path / "news", {name: "x" for name in files})
    make_tree(tmp_path / "more", {"top.txt": "x", "e.tmp.md": "x"})
    found = discover(
        [tmp_path / "news", tmp_path / "more"], exclude=["drafts/", "/top.txt", "*.tmp.md"]
    )
    assert [f.id_base for f in found.files] == ["news/a.txt", "news/x/top.txt"]
    assert sorted((s.path, s.reason, s.detail) for s in found.left_out) == [
        (str(tmp_path / "more/e.tmp.md"), "--exclude", "*.tmp.md"),
        (str(tmp_path / "more/top.txt"), "--exclude", "/top.txt"),
        (str(tmp_path / "news/drafts"), "--exclude", "drafts/"),
        (str(tmp_path / "news/top.txt"), "--exclude", "/top.txt"),
        (str(tmp_path / "news/x/d.tmp.md"), "--exclude", "*.tmp.md"),
        (str(tmp_path / "news/x/drafts"), "--exclude", "drafts/"),
    ]
    assert discover([tmp_path / "news/top.txt"], exclude=["/top.txt"]).files  # named: read


def test_a_bad_exclude_pattern_is_an_input_error(tmp_path):
    make_tree(tmp_path / "news", {"a.txt": "x"})
    with pytest.raises(InputError, match="--exclude: .* gitignore syntax"):
        discover([tmp_path / "news"], exclude=["\\"])


def test_newssearchignore_files_leave_out_what_they_match(tmp_path):
    make_tree(
        tmp_path / "news",
        {
            ".newssearchignore": "# not news\n*.log.txt\nprivate/\n",
            "a.txt": "x",
            "run.log.txt": "x",
            "private/p.txt": "x",
            "sub/.newssearchignore": "!keep.log.txt\nold*\n",
            "sub/keep.log.txt": "x",
            "sub/other.log.txt": "x",
            "sub/old.txt": "x",
            "sub/new.txt": "x",
            "other/old.txt": "x",
        },
    )
    found = discover([tmp_path / "news"])
    assert [f.id_base for f in found.files] == [
        "news/a.txt",
        "news/other/old.txt",  # the deeper file's patterns are for its own folder
        "news/sub/keep.log.txt",  # taken back in by the deeper file
        "news/sub/new.txt",
    ]
    root, sub = "news/.newssearchignore", "news/sub/.newssearchignore"
    assert sorted((s.path, s.reason, s.detail) for s in found.left_out) == [
        (str(tmp_path / "news/private"), ".newssearchignore", f"private/ in {root}"),
        (str(tmp_path / "news/run.log.txt"), ".newssearchignore", f"*.log.txt in {root}"),
        (str(tmp_path / "news/sub/old.txt"), ".newssearchignore", f"old* in {sub}"),
        (str(tmp_path / "news/sub/other.log.txt"), ".newssearchignore", f"*.log.txt in {root}"),
    ]
    assert found.skips == []


def test_a_malformed_or_linked_ignore_file_is_a_skip_and_the_walk_goes_on(tmp_path):
    make_tree(tmp_path / "news", {".newssearchignore": "a.txt\n\\\n", "a.txt": "x"})
    make_tree(tmp_path / "news", {"sub/b.txt": "x"})
    make_tree(tmp_path / "elsewhere", {"patterns": "*.txt"})
    os.symlink(tmp_path / "elsewhere/patterns", tmp_path / "news/sub/.newssearchignore")
    found = discover([tmp_path / "news"])
    assert [f.id_base for f in found.files] == ["news/a.txt", "news/sub/b.txt"]
    assert found.skips == [
        Skip(
            str(tmp_path / "news/.newssearchignore"),
            "malformed ignore file",
            "line 2 is not gitignore syntax",
        ),
        Skip(str(tmp_path / "news/sub/.newssearchignore"), "unreadable", "not a regular file"),
    ]


# --- links that lead out of the folders given


def test_a_link_out_of_the_folder_is_left_out_unless_links_are_followed(tmp_path):
    secret = tmp_path / "private" / "shadow"
    make_tree(tmp_path, {"private/shadow": "root:*:19000:0:99999:7:::\n", "news/a.txt": "x"})
    make_tree(tmp_path, {"outside/b.txt": "x", "news/inside/c.txt": "x"})
    os.symlink(secret, tmp_path / "news/shadow.txt")
    os.symlink(tmp_path / "outside", tmp_path / "news/linked")
    os.symlink(tmp_path / "news/inside", tmp_path / "news/also")  # stays inside: fine
    os.symlink("../a.txt", tmp_path / "news/inside/same.txt")
    found = discover([tmp_path / "news"])
    assert [f.id_base for f in found.files] == ["news/a.txt", "news/also/c.txt"]
    assert sorted((s.path, s.reason, s.detail) for s in found.left_out) == [
        (str(tmp_path / "news/linked"), "link outside the folders", f"leads to {tmp_path}/outside"),
        (str(tmp_path / "news/shadow.txt"), "link outside the folders", f"leads to {secret}"),
    ]
    followed = discover([tmp_path / "news"], follow_links=True)
    assert [f.id_base for f in followed.files] == [
        "news/a.txt",
        "news/also/c.txt",
        "news/linked/b.txt",
        "news/shadow.txt",
    ]
    assert followed.left_out == []
    # A link to another folder given is inside the folders given.
    both = discover([tmp_path / "news", tmp_path / "outside"])
    assert "news/linked/b.txt" in [f.id_base for f in both.files] and both.left_out == [
        Skip(str(tmp_path / "news/shadow.txt"), "link outside the folders", f"leads to {secret}")
    ]


def test_followed_links_that_loop_through_another_folder_end(tmp_path):
    make_tree(tmp_path, {"news/a.txt": "x", "outside/b.txt": "x"})
    os.symlink(tmp_path / "outside", tmp_path / "news/out")
    os.symlink(tmp_path / "news", tmp_path / "outside/back")
    os.symlink("self", tmp_path / "news/self")
    for follow in (False, True):
        found = discover([tmp_path / "news"], follow_links=follow)
        assert [f.id_base for f in found.files] == (
            ["news/a.txt", "news/out/b.txt"] if follow else ["news/a.txt"]
        )
        loops = sorted(s.path for s in found.skips if s.reason == "symlink loop")
        assert loops == (
            [str(tmp_path / "news/out/back"), str(tmp_path / "news/self")]
            if follow
            else [str(tmp_path / "news/self")]
        )


def test_discover_real_seeds():
    if not SEED.exists():
        pytest.skip(f"shared seeds folder not found at {SEED.parent}")
    files = discover([SEED.parent]).files
    assert "seeds/000_815593e774ae9b48.txt" in [f.id_base for f in files]


# --- real data and size


def test_beir_scifact_corpus_reads_as_is():
    if not SCIFACT.exists():
        pytest.skip(f"BEIR SciFact corpus not found at {SCIFACT}")
    articles, skips = read_source(SourceFile(SCIFACT, "beir_scifact/corpus.jsonl.gz"))
    assert skips == []
    assert len(articles) == 5183
    first = articles[0]
    assert first.id == "4983"
    assert first.title.startswith("Microstructural development of human newborn cerebral")
    assert first.text.startswith("Alterations of the architecture of cerebral white matter")
    assert len({a.id for a in articles}) == len(articles)


@pytest.mark.slow
def test_a_50_mb_jsonl_file_is_read(tmp_path):
    record = {"title": "Headline", "text": "Words in a sentence. " * 30 + "\n\n" + "More. " * 40}
    line = json.dumps(record) + "\n"
    count = 50_000_000 // len(line)
    path = tmp_path / "big.jsonl"
    path.write_text(line * count)
    # How long it takes (about a second, linear in the size) is scripts/bench_parsing.py's.
    articles, skips = read_source(SourceFile(path, "big.jsonl"))
    assert skips == []
    assert [a.id for a in articles] == [f"big.jsonl#{n}" for n in range(1, count + 1)]
    expected = "\n\n".join(p.strip() for p in record["text"].split("\n\n"))
    assert all(a.title == "Headline" and a.text == expected for a in articles)
