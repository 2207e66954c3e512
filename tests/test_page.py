"""The search page at ``/`` in a real browser: headless Chromium (Debian's, never a
downloaded one) driven by Playwright, against a real ``newssearch serve`` process with the
fake embedder."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FakeEmbedder, running_server, write_articles
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect, sync_playwright

from search import Index

pytestmark = pytest.mark.process  # a real server and a real browser for every test

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT: ViewportSize = {"width": 1000, "height": 700}
WAIT_MS = 10_000

FILLER = 24  # paragraphs before the one a search finds: it starts far below the fold
KEY = FILLER + 1  # its number, counted from 1 as the API counts paragraphs
KEY_TEXT = "OPEC ministers agreed in Vienna to hold the output quota until June."
OPEC_TEXT = "\n\n".join(
    [
        *(
            f"Paragraph {i}: the harbour master logged the tides, the wind and the ferry "
            "timetable for the coming season."
            for i in range(1, FILLER + 1)
        ),
        KEY_TEXT,
        "Delegates left the meeting late in the evening without further comment.",
    ]
)
ARTICLES: list[dict[str, Any]] = [
    {
        "id": "opec-1",
        "title": "OPEC holds its output quota",
        "text": OPEC_TEXT,
        "date": "1987-03-02",
        "source": "Wire One",
        "topics": ["crude"],
        "url": "https://example.com/opec-1",
    },
    {  # a wire copy of the first: the same story from another outlet
        "id": "opec-2",
        "title": "OPEC holds its output quota",
        "text": OPEC_TEXT,
        "date": "1987-03-02",
        "source": "Wire Two",
        "topics": ["crude"],
    },
    {
        "id": "gulf",
        "title": "Crude prices rise on Gulf tension",
        "text": "Crude prices rose as OPEC ministers met in Vienna over the output quota.\n\n"
        "Traders in Zürich said the tides of the market turned with the season.",
        "date": "1987-03-05",
        "source": "AFP",
        "topics": ["crude"],
    },
    {
        "id": "grain",
        "title": "Wheat harvest beats forecasts",
        "text": "Farmers brought in a record wheat harvest across the plains this summer.",
        "date": "1987-08-20",
        "source": "AFP",
        "topics": ["grain"],
    },
]
HOSTILE_TITLE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
HOSTILE = {
    "id": "hostile",
    "title": HOSTILE_TITLE,
    "text": "Barley <b>report</b> <script>window.pwned=3</script> "
    '<img src=x onerror="window.pwned=4">',
    "date": "1987-04-01",
    "source": "<i>Evil</i>",
    "url": "javascript:window.pwned=5",
    "topics": ['<a href="javascript:window.pwned=6">x</a>'],
}

# The research test's archive: the phrase "output quota" in eight dated articles over ten
# weeks and one undated, from three outlets; its words apart in one more (no match).
PHRASE = '"output quota"'
RESEARCH = [
    (
        "r1",
        "1987-03-02",
        "Wire One",
        ["crude"],
        "OPEC ministers agreed in Vienna to hold the output quota for the second quarter.",
    ),
    (
        "r2",
        "1987-03-04",
        "AFP",
        ["crude"],
        "Saudi Arabia told buyers its output quota would stand whatever the spot price did.",
    ),
    (
        "r3",
        "1987-03-10",
        "Reuters",
        ["crude"],
        "Nigeria asked the cartel to raise its output quota as its budget ran short.",
    ),
    (
        "r4",
        "1987-03-12",
        "AFP",
        ["crude", "ship"],
        "Tankers waited off Kharg Island while Iran argued over its output quota.",
    ),
    (
        "r5",
        "1987-03-25",
        "Reuters",
        ["ship"],
        "Freight brokers said the output quota left too many tankers idle in the Gulf.",
    ),
    (
        "r6",
        "1987-04-07",
        "Wire One",
        ["crude"],
        "Venezuela said it kept to its output quota through March and April.",
    ),
    (
        "r7",
        "1987-04-20",
        "AFP",
        ["crude"],
        "Analysts doubted that Ecuador could meet its output quota after the earthquake.",
    ),
    (
        "r8",
        "1987-05-05",
        "Reuters",
        ["crude"],
        "Kuwait denied reports that it had exceeded its output quota in April.",
    ),
    ("r9", None, "Wire One", [], "An undated note on the output quota, with no day given."),
    (
        "n1",
        "1987-03-03",
        "Reuters",
        ["grain"],
        "The quota for wheat output was raised by the ministry on Tuesday.",
    ),
    (
        "n2",
        "1987-03-11",
        "AFP",
        ["grain"],
        "Farmers brought in a record wheat harvest across the plains.",
    ),
    (
        "n3",
        "1987-04-08",
        "Reuters",
        ["ship"],
        "Shipping rates fell as the harbour at Rotterdam reopened.",
    ),
]
WEEK = ("1987-03-09", "1987-03-15")  # the week the test picks: r3 and r4 in it


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium), which is absent")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("page")


@pytest.fixture(scope="module")
def index(folder: Path) -> Path:
    """One index and one server for the module's tests: none of them writes."""
    lines = "\n".join(json.dumps(record) for record in [*ARTICLES, HOSTILE])
    news = write_articles(folder / "news", {"wire.jsonl": lines + "\n"})
    with Index.open_or_create(folder / "index", model=FakeEmbedder()) as ix:
        report = ix.update([news])
    assert report.added == len(ARTICLES) + 1 and not report.skipped
    return folder / "index"


@pytest.fixture(scope="module")
def site(index: Path, folder: Path) -> Iterator[str]:
    with running_server(index, env={"NEWSSEARCH_RUN_DIR": str(folder / "run")}) as url:
        yield url


@pytest.fixture(scope="module")
def research_site(folder: Path) -> Iterator[str]:
    """A server over the research archive (RESEARCH)."""
    lines = []
    for article_id, published, outlet, topics, text in RESEARCH:
        record = {"id": article_id, "title": text.split(",")[0][:48], "text": text}
        record |= {"source": outlet, "topics": topics} | ({"date": published} if published else {})
        lines.append(json.dumps(record) + "\n")
    news = write_articles(folder / "research" / "news", {"wires.jsonl": "".join(lines)})
    with Index.open_or_create(folder / "research" / "index", model=FakeEmbedder()) as ix:
        assert ix.update([news]).added == len(RESEARCH)
    env = {"NEWSSEARCH_RUN_DIR": str(folder / "research" / "run")}
    with running_server(folder / "research" / "index", env=env) as url:
        yield url


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    yield from _tab(browser, site)


@pytest.fixture
def research_page(browser: Browser, research_site: str) -> Iterator[Page]:
    yield from _tab(browser, research_site)


def _tab(browser: Browser, site: str) -> Iterator[Page]:
    """A fresh tab on the site; a script error or a dialog on it fails the test."""
    context = browser.new_context(base_url=site, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))

    def on_dialog(dialog: Dialog) -> None:  # alert() from a title would be a hole
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()
    assert problems == []


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def search_for(page: Page, text: str) -> None:
    page.goto("/")
    page.fill("#q", text)
    page.press("#q", "Enter")
    searched(page, text)


def searched(page: Page, text: str) -> None:
    """Wait for the answer to the search for ``text`` to be shown."""
    expect(page.locator("#status")).to_have_text(
        re.compile(f" for “{re.escape(text)}” in \\d+ ms$")
    )


def in_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def check_article(page: Page) -> str:
    """The article the search found, whole, its paragraph highlighted and in view; its id."""
    expect(page.locator(".para.hit")).to_have_count(1)
    assert urlsplit(page.url).path == "/article"
    # COLLECTION/ID, as the page links it (a shared link may give the id alone)
    article_id = query_of(page.url)["id"][0].removeprefix("news/")
    assert article_id in ("opec-1", "opec-2")
    expect(page.locator("#article-title")).to_have_text("OPEC holds its output quota")
    expect(page.locator("#article-body .para")).to_have_count(FILLER + 2)  # the whole text
    hit = page.locator(".para.hit")
    expect(hit).to_have_text(KEY_TEXT)
    assert hit.get_attribute("id") == f"p{KEY}"
    expect(hit.locator("mark").first).to_have_text(re.compile("^opec$", re.IGNORECASE))
    # It began below the fold, and the page scrolled it into view.
    assert page.evaluate(f"document.getElementById('p{KEY}').offsetTop") > VIEWPORT["height"]
    assert page.evaluate("window.scrollY") > 0
    assert hit.is_visible() and in_viewport(page, ".para.hit")
    # Its copy (the other outlet's) and a similar article are listed, as links.
    other = "news/opec-2" if article_id == "opec-1" else "news/opec-1"
    copy_link = page.locator("#copies-list a")
    expect(copy_link).to_have_count(1)
    assert query_of(copy_link.get_attribute("href") or "")["id"] == [other]
    expect(page.locator("#copies-list")).to_contain_text(
        "Wire Two" if other == "news/opec-2" else "Wire One"
    )
    similar = page.locator("#similar-list a")  # every other story, not the copy
    expect(similar).to_have_count(len(ARTICLES) + 1 - 2)
    expect(page.locator("#similar-list")).to_contain_text("Crude prices rise on Gulf tension")
    hrefs = similar.evaluate_all("links => links.map(a => a.href)")
    assert {query_of(href)["id"][0] for href in hrefs} == {
        "news/gulf",
        "news/grain",
        "news/hostile",
    }
    return article_id


def test_a_search_shows_highlighted_results_and_its_query_in_the_url(page: Page) -> None:
    search_for(page, "opec quota")
    first = page.locator("#results > li").first
    expect(first.locator("h2 a")).to_have_text("OPEC holds its output quota")
    expect(first.locator("mark").first).to_have_text(re.compile("^opec$", re.IGNORECASE))
    expect(first.locator("mark").nth(1)).to_have_text("quota")
    expect(first.locator(".outlet")).to_have_text(re.compile("^Wire (One|Two)$"))
    assert first.locator("time").get_attribute("datetime") == "1987-03-02"
    expect(first).to_contain_text("1 other copy")
    assert query_of(page.url) == {"q": ["opec quota"]}
    expect(page.locator("#status")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#status")).to_contain_text(re.compile(r"\d+ passages? for .* in \d+ ms"))

    page.goto("/?q=ZURICH&mode=lexical")  # words match without case or accents, as in the index
    expect(page.locator("#results > li").first.locator("mark")).to_have_text("Zürich")


def test_a_click_opens_the_article_and_back_returns_to_the_results(page: Page) -> None:
    search_for(page, "opec quota")
    results_url = page.url
    page.locator("#results > li h2 a").first.click()
    first_id = check_article(page)
    assert query_of(page.url)["p"] == [str(KEY)] and query_of(page.url)["q"] == ["opec quota"]

    page.locator("#copies-list a").click()  # the copy: same text, same paragraph
    expect(page.locator("#copies-list a")).to_have_count(1)
    assert check_article(page) != first_id

    page.locator("#back").click()  # back to results, skipping the copy
    expect(page.locator("#results > li")).not_to_have_count(0)
    assert page.url == results_url and page.input_value("#q") == "opec quota"
    expect(page.locator("#article-view")).to_be_hidden()

    page.go_forward()  # the browser's own buttons walk the same history
    expect(page.locator("#article-view")).to_be_visible()
    expect(page.locator(".para.hit")).to_have_text(KEY_TEXT)
    page.go_back()
    expect(page.locator("#results-view")).to_be_visible()
    assert page.url == results_url


def test_the_page_works_from_the_keyboard(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("opec quota")
    page.keyboard.press("Enter")
    expect(page.locator("#results > li")).not_to_have_count(0)
    first_link = page.locator("#results > li h2 a").first.get_attribute("href")
    for _ in range(30):  # Tab through the form's controls to the first result
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == first_link:
            break
    else:
        pytest.fail("Tab never reached the first result")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")  # the focus is visible
    page.keyboard.press("Enter")
    check_article(page)
    page.keyboard.press("Escape")
    expect(page.locator("#results-view")).to_be_visible()
    assert query_of(page.url) == {"q": ["opec quota"]}
    # Every control is labelled.
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input, select')].filter(e => !e.labels.length)"
        ".map(e => e.id)"
    )
    assert unlabelled == []


def test_a_shared_link_shows_its_results_and_options(page: Page) -> None:
    page.goto("/?q=opec+quota&mode=lexical&source=AFP&where=topics%3Dcrude")
    expect(page.locator("#results > li")).to_have_count(1)
    expect(page.locator("#results h2 a")).to_have_text("Crude prices rise on Gulf tension")
    assert page.input_value("#q") == "opec quota"
    assert page.input_value("#mode") == "lexical"
    assert page.input_value("#source") == "AFP"
    assert page.input_value("#where") == "topics=crude"

    page.goto("/?q=harbour+tides")  # ten passages, and a button for more
    expect(page.locator("#results > li")).to_have_count(10)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.locator("#more").click()
    expect(page.locator("#results > li")).to_have_count(30)
    assert query_of(page.url) == {"q": ["harbour tides"], "k": ["30"]}
    focused = "[...document.querySelectorAll('#results > li')]" + (
        ".indexOf(document.activeElement.closest('li'))"
    )
    assert page.evaluate(focused) == 10  # the focus moved on to the first new result
    # The next page was asked for from where the first ended, and repeats none of it.
    searches = [query_of(url) for url in asked if urlsplit(url).path == "/api/search"]
    assert searches == [{"q": ["harbour tides"], "k": ["20"], "offset": ["10"]}]
    shown = "items => items.map(li => [li.querySelector('a').href, li.innerText])"
    passages = page.locator("#results > li").evaluate_all(shown)
    assert len({tuple(passage) for passage in passages}) == 30
    page.reload()  # the link says 30: the same thirty at once
    expect(page.locator("#results > li")).to_have_count(30)
    assert page.locator("#results > li").evaluate_all(shown) == passages

    page.goto("/?q=opec+quota&collection=news")  # the collection filter
    expect(page.locator("#results > li")).not_to_have_count(0)
    assert page.input_value("#collection") == "news"
    expect(page.get_by_role("button", name="Remove the filter Collection: news")).to_be_visible()
    page.fill("#collection", "elsewhere")
    page.press("#collection", "Enter")
    expect(page.locator("#status")).to_contain_text("No results for “opec quota”")
    assert query_of(page.url) == {"q": ["opec quota"], "collection": ["elsewhere"]}

    page.goto(f"/article?id=opec-2&p={KEY}&q=opec")  # an article's own link
    check_article(page)
    expect(page.locator("#back")).to_have_attribute("href", "/?q=opec")


def test_the_form_s_filters_reach_the_url_and_the_results(page: Page) -> None:
    search_for(page, "opec quota")
    expect(page.locator("#results > li")).not_to_have_count(0)
    page.fill("#source", "AFP")
    page.fill("#since", "1987-03-03")
    page.press("#since", "Enter")
    searched(page, "opec quota")
    expect(page.locator("#results .outlet", has_text="Wire")).to_have_count(0)
    assert set(page.locator("#results .outlet").all_inner_texts()) == {"AFP"}
    titles = set(page.locator("#results h2 a").all_inner_texts())
    assert titles == {"Crude prices rise on Gulf tension", "Wheat harvest beats forecasts"}
    assert query_of(page.url) == {"q": ["opec quota"], "since": ["1987-03-03"], "source": ["AFP"]}

    page.fill("#source", "")
    page.fill("#since", "")
    page.check("#all")  # every copy: both outlets' copies of the story come back
    expect(page.locator("#results .outlet", has_text="Wire Two")).not_to_have_count(0)
    expect(page.locator("#results .outlet", has_text="Wire One")).not_to_have_count(0)
    assert query_of(page.url)["all"] == ["true"]
    page.check("#by")  # one result per article
    expect(page.locator("#status")).to_contain_text("articles for")
    links = page.locator("#results h2 a").evaluate_all("links => links.map(a => a.href)")
    ids = [query_of(link)["id"][0] for link in links]
    assert sorted(ids) == sorted(f"news/{article['id']}" for article in [*ARTICLES, HOSTILE])


def test_a_bad_filter_shows_the_server_s_message(page: Page) -> None:
    page.goto("/")
    page.fill("#q", "opec")
    page.fill("#since", "notadate")
    page.press("#q", "Enter")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("'notadate' is not a date")
    expect(page.locator("#results > li")).to_have_count(0)
    assert query_of(page.url)["since"] == ["notadate"]

    page.goto("/?q=opec&where=nonsense")
    expect(page.locator("#error")).to_contain_text("'nonsense' is not FIELD=VALUE")
    page.goto("/article?id=no-such-article")
    expect(page.locator("#error")).to_contain_text("no article with id 'no-such-article'")
    page.goto("/?q=qzxv&mode=lexical")
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("No results for “qzxv”")


def test_hostile_text_is_shown_as_text_never_run(page: Page) -> None:
    page.goto("/?q=barley+report&mode=lexical")
    first = page.locator("#results > li").first
    expect(first.locator("h2 a")).to_have_text(HOSTILE_TITLE)
    expect(first.locator(".outlet")).to_have_text("<i>Evil</i>")
    expect(first.locator(".hit-text")).to_contain_text("<script>window.pwned=3</script>")
    assert first.locator("img, script, b, i").count() == 0
    first.locator("h2 a").click()
    expect(page.locator("#article-title")).to_have_text(HOSTILE_TITLE)
    expect(page.locator("#article-body")).to_contain_text('<img src=x onerror="window.pwned=4">')
    expect(page.locator("#article-fields")).to_contain_text('<a href="javascript:')
    assert page.locator("main img, main script, main b, main i, #article-fields a").count() == 0
    assert page.locator("a.original").count() == 0  # a javascript: URL is never a link
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.pwned") is None
    assert page.title() == f"{HOSTILE_TITLE} — newssearch"


def hits_shown(page: Page) -> list[dict[str, Any]]:
    """Each result's article (COLLECTION/ID), date and topics, as the page shows them."""
    return page.locator("#results > li").evaluate_all(
        """items => items.map(item => ({
            id: new URL(item.querySelector('h2 a').href).searchParams.get('id'),
            date: item.querySelector('time')?.dateTime ?? null,
            fields: item.querySelector('.hit-fields')?.textContent ?? '',
        }))"""
    )


def topics_of(hit: dict[str, Any]) -> list[str]:
    found = re.search(r"topics: ([^·]*)", hit["fields"])
    return [topic.strip() for topic in found.group(1).split(",")] if found else []


EXPORT_COLUMNS = [
    "article_id",
    "collection",
    "published",
    "source",
    "title",
    "url",
    "passage",
    "passage_id",
    "relevance",
]


def test_research_a_phrase_by_period_and_facet_newest_first_then_as_csv(
    research_page: Page,
) -> None:
    """The issue's walk: a phrase query, its chart, a period picked, a facet picked, the
    newest first, and the CSV, each checked against the API's own answer."""
    page = research_page
    search_for(page, PHRASE)
    found = {hit["id"] for hit in hits_shown(page)}
    assert found == {f"news/r{n}" for n in range(1, 10)}  # not n1, which has the words apart

    # The chart: a bar for each week that has matches, with the counts /api/timeline gives.
    timeline = page.request.get("/api/timeline", params={"q": PHRASE, "every": "week"}).json()
    weeks = [period for period in timeline["periods"] if period["count"]]
    assert len(weeks) == 6 and timeline["undated"] == 1
    bars = page.locator("#chart svg a.bar")
    expect(bars).to_have_count(len(weeks))
    labels = bars.evaluate_all("bars => bars.map(bar => bar.getAttribute('aria-label'))")
    hrefs = bars.evaluate_all("bars => bars.map(bar => bar.getAttribute('href'))")
    for week, label, href in zip(weeks, labels, hrefs, strict=True):
        count = f"{week['count']} matching article{'s' if week['count'] > 1 else ''}"
        assert f"{count} of {week['total_count']} " in label
        last = (date.fromisoformat(week["start"]) + timedelta(days=6)).isoformat()
        assert query_of(href)["period"] == [f"{week['start']}..{last}"]
    assert page.locator("#chart svg").get_attribute("aria-labelledby") == "coverage-title"
    expect(page.locator("#coverage-summary")).to_contain_text("8 matching articles of 11")
    expect(page.locator("#coverage-summary")).to_contain_text("1 matching article has no date")

    # A week picked: every hit inside it, its bar marked, a button to take it off.
    page.locator(f'#chart a.bar[href*="period={WEEK[0]}..{WEEK[1]}"]').click()
    expect(page.locator("#chart a.bar[aria-current='true']")).to_have_count(1)
    searched(page, PHRASE)
    hits = hits_shown(page)
    assert {hit["id"] for hit in hits} == {"news/r3", "news/r4"}
    assert all(WEEK[0] <= hit["date"] <= WEEK[1] for hit in hits)
    assert query_of(page.url) == {"q": [PHRASE], "period": [f"{WEEK[0]}..{WEEK[1]}"]}
    expect(bars).to_have_count(len(weeks))  # the chart still shows every week

    # The facets: the counts the search response gives for the week, each a filter.
    asked = {"q": PHRASE, "since": WEEK[0], "until": WEEK[1], "facets": "1"}
    facets = page.request.get("/api/search", params=asked).json()["facets"]
    assert [(c["value"], c["articles"]) for c in facets["fields"]["topics"]] == [
        ("crude", 2),
        ("ship", 1),
    ]
    shown = page.locator("#facets .facet-value").evaluate_all(
        "links => links.map(a => a.getAttribute('aria-label'))"
    )
    for counted in [*facets["outlets"], *facets["fields"]["topics"]]:
        n = counted["articles"]
        assert f"{counted['value']}, {n} article{'s' if n > 1 else ''}" in shown
    page.locator("#facets a[aria-label^='ship,']").click()
    searched(page, PHRASE)
    hits = hits_shown(page)
    assert [hit["id"] for hit in hits] == ["news/r4"] and "ship" in topics_of(hits[0])
    expect(page.locator("#facets a[aria-label^='ship,']")).to_have_attribute("aria-current", "true")
    page.locator("#facets a[aria-label^='ship,']").click()  # in use: a click takes it off
    searched(page, PHRASE)
    page.locator("#facets a[aria-label^='crude,']").click()
    searched(page, PHRASE)
    assert all("crude" in topics_of(hit) for hit in hits_shown(page))
    expect(page.locator("#where")).to_have_value("topics=crude")

    # The week taken off again, by its button: every crude article with the phrase.
    page.get_by_role("button", name=re.compile("^Remove the filter Period: ")).click()
    searched(page, PHRASE)
    assert query_of(page.url) == {"q": [PHRASE], "where": ["topics=crude"]}
    expect(page.locator("#filters button")).to_have_count(1)  # topics: crude, still in use
    hits = hits_shown(page)
    assert len(hits) == 7 and all("crude" in topics_of(hit) for hit in hits)

    # Newest first: the dates go down, in the order the API sorts them.
    page.select_option("#sort", "newest")
    expect(page.locator("#status")).to_have_text(
        re.compile(f"^7 articles for “{re.escape(PHRASE)}” in \\d+ ms$")
    )
    assert query_of(page.url)["sort"] == ["newest"]
    hits = hits_shown(page)
    dates = [hit["date"] for hit in hits]
    assert dates == sorted(dates, reverse=True)
    newest = ["r8", "r7", "r6", "r4", "r3", "r2", "r1"]  # RESEARCH's crude articles, by hand
    assert [hit["id"] for hit in hits] == [f"news/{n}" for n in newest]

    # The CSV: what /api/export gives for the same search, its rows the results shown.
    link = page.locator("#download")
    assert query_of(link.get_attribute("href") or "") == {
        "q": [PHRASE],
        "where": ["topics=crude"],
        "sort": ["newest"],
        "format": ["csv"],
    }
    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_bytes().decode("utf-8")  # "\r\n" kept
    asked = {"q": PHRASE, "where": "topics=crude", "sort": "newest", "format": "csv"}
    exported = page.request.get("/api/export", params=asked)
    assert exported.ok and text == exported.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == EXPORT_COLUMNS
    assert [f"{row[1]}/{row[0]}" for row in rows[1:]] == [hit["id"] for hit in hits]


def test_the_chart_from_the_keyboard_per_month_and_as_shares(research_page: Page) -> None:
    page = research_page
    search_for(page, PHRASE)
    stop = page.locator("#chart a.bar[tabindex='0']")  # one stop in the tab order
    expect(stop).to_have_count(1)
    bars = page.locator("#chart a.bar")
    first = bars.first.get_attribute("href")
    stop.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    second = bars.nth(1).get_attribute("href")
    assert page.evaluate("document.activeElement.getAttribute('href')") == second != first
    page.keyboard.press("Enter")
    searched(page, PHRASE)
    assert query_of(page.url)["period"] == query_of(second or "")["period"]

    requests: list[str] = []
    page.on("request", lambda request: requests.append(urlsplit(request.url).path))
    page.check("#measure-ratio")  # shares: the same data drawn again
    expect(page.locator("#chart svg.ratio")).to_have_count(1)
    expect(page.locator("#chart .tick").first).to_have_text(re.compile("%$"))
    assert query_of(page.url)["measure"] == ["ratio"] and "/api/timeline" not in requests

    page.select_option("#every", "month")
    expect(page.locator("#chart a.bar")).to_have_count(3)  # March, April, May
    assert query_of(page.url)["every"] == ["month"]
    page.locator("#coverage-table summary").click()  # the chart in words
    rows = page.locator("#coverage-rows tr")
    expect(rows).to_have_count(3)
    # March: r1 to r5 of its seven articles
    assert rows.first.locator("th, td").all_inner_texts() == ["March 1987", "5", "7", "71%"]


def test_a_token_from_the_link_is_kept_out_of_the_url(
    browser: Browser, index: Path, tmp_path: Path
) -> None:
    env = {"NEWSSEARCH_RUN_DIR": str(tmp_path / "run-token")}
    with running_server(index, "--token", "s3cret", env=env) as url:
        context = browser.new_context(base_url=url, viewport=VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        try:
            page = context.new_page()
            page.goto("/?q=opec+quota&token=s3cret")
            expect(page.locator("#results > li")).not_to_have_count(0)  # the cookie works
            assert query_of(page.url) == {"q": ["opec quota"]}
            page.locator("#results > li h2 a").first.click()
            expect(page.locator(".para.hit")).to_have_count(1)
            assert "token" not in page.url
        finally:
            context.close()
