// The search page: one page that reads its state from the URL (/?q=... for results,
// /article?id=...&p=...&q=... for an article), so every view can be shared as a link and
// the browser's back and forward buttons work. Every value from the server is shown as
// text (textContent, createElement), never parsed as markup: titles and passages are
// whatever the archive held.
"use strict";

(() => {
  const MORE = 20; // added by "Show more results"
  const MAX_K = 1000; // the server's limit on k: a reload shows at most this many
  const SIMILAR = 8;
  const COPIES_SHOWN = 20; // copies whose outlet and date are looked up
  const CACHE_SIZE = 30;
  // Query words not worth marking: the same list as search/highlight.py.
  const STOPWORDS = new Set(
    ("a an and are as at be but by for from has have he her his in is it its of on or " +
      "she that the their they this to was were which who will with").split(" "),
  );
  const PREFIX_MIN = 4; // query words this long also mark longer words they begin
  const WORD = /[\p{L}\p{M}\p{N}_]+/gu;
  const PARAGRAPH_BREAK = /\n[ \t]*\n/;
  // -word, -"a phrase", NOT word, NOT "a phrase", NOT (a group): what a query excludes.
  const EXCLUDED = /(?:(?<![\p{L}\p{N}_])-|\bNOT\s+)(?:"[^"]*"?|\([^)]*\)?|[^\s()"]+)/gu;
  const FIELD_NAME = /[\p{L}_][\p{L}\p{N}_-]*:(?=\S)/gu; // title:word, topics:crude
  const EVERIES = ["day", "week", "month"]; // the chart's periods, as /api/timeline names them
  const EVERY = "week";

  const $ = (id) => document.getElementById(id);
  const form = $("search");
  const fieldQ = $("q");
  const cache = new Map(); // API URL -> answer, so back and forward show results at once
  let ticket = 0; // the newest view asked for; older answers are dropped
  let controller = null;

  // ---------------------------------------------------------------- state and URLs

  /** A search as the URL holds it. Values stay as given (a shared link with a bad value
   * gets the server's message for it, not a silent default). ``period`` (FIRST..LAST, the
   * chart's bar picked), ``every`` and ``measure`` (how the chart is drawn) are the page's
   * own: the API is sent what they mean, never their names. */
  function readSearch(params) {
    return {
      q: params.get("q") || "",
      mode: params.get("mode") || "",
      since: params.get("since") || "",
      until: params.get("until") || "",
      source: params.getAll("source").filter(Boolean),
      collection: params.getAll("collection").filter(Boolean),
      where: params.getAll("where").filter(Boolean),
      by: params.get("by") || "",
      all: params.has("all") ? params.get("all") : null,
      sort: params.get("sort") || "",
      k: params.get("k") || "",
      period: params.get("period") || "",
      every: params.get("every") || "",
      measure: params.get("measure") || "",
    };
  }

  /** What the search matches, as every endpoint takes it (the query, its mode and its
   * filters); with ``period``, the chart's pick narrows the dates. Defaults left out. */
  function scopeParams(s, period = true) {
    const params = new URLSearchParams();
    if (s.q) params.set("q", s.q);
    if (s.mode && s.mode !== "hybrid") params.set("mode", s.mode);
    const [since, until] = period ? datesWithin(s) : [s.since, s.until];
    if (since) params.set("since", since);
    if (until) params.set("until", until);
    for (const value of s.source) params.append("source", value);
    for (const value of s.collection) params.append("collection", value);
    for (const value of s.where) params.append("where", value);
    if (s.all !== null && s.all !== "false") params.set("all", s.all);
    return params;
  }

  /** URL parameters for a search, leaving out what is the default. */
  function searchParams(s) {
    const params = scopeParams(s, false);
    if (s.by && s.by !== "passage") params.set("by", s.by);
    if (s.sort && s.sort !== "relevance") params.set("sort", s.sort);
    if (s.k) params.set("k", s.k);
    if (s.period) params.set("period", s.period);
    if (s.every && s.every !== EVERY) params.set("every", s.every);
    if (s.measure && s.measure !== "count") params.set("measure", s.measure);
    return params;
  }

  /** /api/search for a search: ``k`` hits from ``offset``, with the facets on the first. */
  function searchApi(s, { k = s.k, offset = 0 } = {}) {
    const params = scopeParams(s);
    if (s.by && s.by !== "passage") params.set("by", s.by);
    if (s.sort && s.sort !== "relevance") params.set("sort", s.sort);
    if (k) params.set("k", k);
    if (offset) params.set("offset", String(offset));
    else params.set("facets", "1");
    return `/api/search?${params}`;
  }

  function timelineApi(s) {
    const params = scopeParams(s, false); // the whole span: the picked period is a bar of it
    params.set("every", everyOf(s));
    return `/api/timeline?${params}`;
  }

  function exportApi(s) {
    const params = scopeParams(s);
    if (s.sort && s.sort !== "relevance") params.set("sort", s.sort);
    params.set("format", "csv");
    return `/api/export?${params}`;
  }

  function resultsUrl(s) {
    const query = searchParams(s).toString();
    return query ? `/?${query}` : "/";
  }

  function articleUrl(id, paragraphs, s) {
    const params = new URLSearchParams({ id });
    if (paragraphs) params.set("p", paragraphs);
    for (const [key, value] of searchParams(s)) params.append(key, value);
    return `/article?${params}`;
  }

  // ---------------------------------------------------------------- days and periods

  const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

  function utcDay(iso) {
    const parts = ISO_DAY.exec(iso);
    return parts ? new Date(Date.UTC(+parts[1], +parts[2] - 1, +parts[3])) : null;
  }

  function isoDay(date) {
    return date.toISOString().slice(0, 10);
  }

  /** The last day of the period that starts on ``start``. */
  function periodEnd(start, every) {
    const day = utcDay(start);
    if (!day) return start;
    if (every === "month") return isoDay(new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 0)));
    if (every === "week") day.setUTCDate(day.getUTCDate() + 6);
    return isoDay(day);
  }

  /** A date filter's first or last day: "1987" and "1987-03" stand for a span. */
  function boundDay(text, last) {
    const value = text.trim();
    if (ISO_DAY.test(value)) return value;
    const month = /^(\d{4})-(\d{2})$/.exec(value);
    if (month) return last ? periodEnd(`${value}-01`, "month") : `${value}-01`;
    if (/^\d{4}$/.test(value)) return `${value}-${last ? "12-31" : "01-01"}`;
    return null;
  }

  function periodOf(s) {
    const found = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(s.period);
    return found ? { first: found[1], last: found[2] } : null;
  }

  /** The since and until the results are asked for: the form's, narrowed to the period
   * picked on the chart (a date the page cannot read goes as it is, for the server to
   * name). */
  function datesWithin(s) {
    const period = periodOf(s);
    if (!period) return [s.since, s.until];
    const since = s.since ? boundDay(s.since, false) : null;
    const until = s.until ? boundDay(s.until, true) : null;
    return [
      s.since && !since ? s.since : since && since > period.first ? since : period.first,
      s.until && !until ? s.until : until && until < period.last ? until : period.last,
    ];
  }

  function dayText(iso, options) {
    const day = utcDay(iso);
    return day ? day.toLocaleDateString(undefined, { timeZone: "UTC", ...options }) : iso;
  }

  const LONG_DAY = { day: "numeric", month: "short", year: "numeric" };

  /** "2 Mar 1987", "week of 2 Mar 1987", "March 1987" or "2 Mar 1987 – 8 Apr 1987". */
  function periodText(first, last) {
    if (first === last) return dayText(first, LONG_DAY);
    if (first.endsWith("-01") && periodEnd(first, "month") === last) {
      return dayText(first, { month: "long", year: "numeric" });
    }
    if (periodEnd(first, "week") === last) return `week of ${dayText(first, LONG_DAY)}`;
    return `${dayText(first, LONG_DAY)} – ${dayText(last, LONG_DAY)}`;
  }

  function everyOf(s) {
    return EVERIES.includes(s.every) ? s.every : EVERY;
  }

  /** COLLECTION/ID: what names a hit's article whatever other collections hold. */
  function keyOf(hit) {
    return hit.collection ? `${hit.collection}/${hit.article_id}` : hit.article_id;
  }

  /** "3", or "3-4" for a passage that spans joined paragraphs. */
  function paragraphsOf(hit) {
    if (!Number.isInteger(hit.paragraph) || hit.paragraph < 1) return "";
    const count = String(hit.text || "").split(PARAGRAPH_BREAK).length;
    return count > 1 ? `${hit.paragraph}-${hit.paragraph + count - 1}` : String(hit.paragraph);
  }

  function splitList(text, pattern) {
    return text
      .split(pattern)
      .map((part) => part.trim())
      .filter(Boolean);
  }

  function formSearch() {
    return {
      q: fieldQ.value.trim(),
      mode: $("mode").value,
      since: $("since").value.trim(),
      until: $("until").value.trim(),
      source: splitList($("source").value, /,/),
      collection: splitList($("collection").value, /,/),
      // "topics=crude, places=usa" or "topics=crude places=usa"; a value may hold spaces.
      where: splitList($("where").value, /\s*[,;]\s*|\s+(?=[\p{L}_][\p{L}\p{N}_-]*=)/u),
      by: $("by").checked ? "article" : "passage",
      all: $("all").checked ? "true" : null,
      sort: $("sort").value,
      k: "",
      period: "",
      every: $("every").value,
      measure: $("measure-ratio").checked ? "ratio" : "count",
    };
  }

  function fillForm(s) {
    if (document.activeElement !== fieldQ || fieldQ.value.trim() !== s.q) fieldQ.value = s.q;
    const mode = $("mode");
    mode.value = ["hybrid", "dense", "lexical"].includes(s.mode) ? s.mode : "hybrid";
    $("since").value = s.since;
    $("until").value = s.until;
    $("source").value = s.source.join(", ");
    $("collection").value = s.collection.join(", ");
    $("where").value = s.where.join(", ");
    $("by").checked = s.by === "article";
    $("all").checked = s.all !== null && !["false", "0", "no"].includes(s.all.toLowerCase());
    $("sort").value = ["newest", "oldest"].includes(s.sort) ? s.sort : "relevance";
    $("every").value = everyOf(s);
    $("measure-ratio").checked = s.measure === "ratio";
    $("measure-count").checked = s.measure !== "ratio";
  }

  // ---------------------------------------------------------------- the server

  class ApiError extends Error {}

  async function api(path, signal) {
    let response;
    try {
      response = await fetch(path, { headers: { Accept: "application/json" }, signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError("Cannot reach the newssearch server — is `newssearch serve` still running?");
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const message = body && typeof body.error === "string" ? body.error : "";
      throw new ApiError(message || `The server answered ${response.status} ${response.statusText}`);
    }
    if (body === null || typeof body !== "object") throw new ApiError("The server's answer was not JSON");
    return body;
  }

  async function cached(path, signal, useCache) {
    if (useCache && cache.has(path)) return cache.get(path);
    const body = await api(path, signal);
    cache.delete(path);
    cache.set(path, body);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
    return body;
  }

  // ---------------------------------------------------------------- text helpers

  function fold(word) {
    return word.toLowerCase().replace(/ß/g, "ss").normalize("NFKD").replace(/\p{M}/gu, "");
  }

  /** The query's words to mark, as search/highlight.py picks them; of its syntax
   * (docs/cli.md), not the words it excludes, its operators or its field names, and
   * ``word*`` marks the words it begins. */
  function queryTerms(query) {
    const wanted = String(query)
      .replace(EXCLUDED, " ")
      .replace(/\b(?:AND|OR|NOT)\b/g, " ")
      .replace(FIELD_NAME, " ");
    const terms = new Set();
    const starts = [];
    for (const match of wanted.matchAll(WORD)) {
      const word = fold(match[0]);
      if (!word || STOPWORDS.has(word)) continue;
      if (wanted[match.index + match[0].length] === "*") starts.push(word);
      else terms.add(word);
    }
    return { terms, prefixes: [...starts, ...[...terms].filter((t) => t.length >= PREFIX_MIN)] };
  }

  function matches(word, q) {
    const folded = fold(word);
    return q.terms.has(folded) || q.prefixes.some((prefix) => folded.startsWith(prefix));
  }

  /** ``text`` as text nodes, with the query's words in <mark>. */
  function highlighted(text, q) {
    const fragment = document.createDocumentFragment();
    const value = String(text ?? "");
    if (!q.terms.size) {
      fragment.append(value);
      return fragment;
    }
    let last = 0;
    for (const match of value.matchAll(WORD)) {
      if (!matches(match[0], q)) continue;
      if (match.index > last) fragment.append(value.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.textContent = match[0];
      fragment.append(mark);
      last = match.index + match[0].length;
    }
    if (last < value.length) fragment.append(value.slice(last));
    return fragment;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function link(href, text, className) {
    const a = element("a", className, text);
    a.href = href;
    a.dataset.nav = "";
    return a;
  }

  /** A readable date for an ISO day or UTC time; anything else as given. */
  function dateNode(published) {
    if (typeof published !== "string" || !published) return null;
    const time = element("time", "date");
    time.dateTime = published;
    const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(published);
    const moment = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(published);
    const parts = day || moment;
    let shown = published;
    if (parts) {
      const date = new Date(Date.UTC(+parts[1], +parts[2] - 1, +parts[3], +(parts[4] || 0), +(parts[5] || 0)));
      const options = { timeZone: "UTC", day: "numeric", month: "short", year: "numeric" };
      if (!Number.isNaN(date.getTime())) {
        shown = date.toLocaleDateString(undefined, options);
        if (moment) shown += `, ${parts[4]}:${parts[5]} UTC`;
      }
    }
    time.textContent = shown;
    return time;
  }

  /** ``line`` holding the pieces given (text or nodes), joined by separators. */
  function fillMeta(line, pieces) {
    line.replaceChildren();
    for (const piece of pieces.filter(Boolean)) {
      if (line.childNodes.length) line.append(element("span", "sep", " · "));
      line.append(typeof piece === "string" ? element("span", null, piece) : piece);
    }
    return line;
  }

  function metaLine(className, pieces) {
    return fillMeta(element("p", className), pieces);
  }

  function outlet(item) {
    return item.source ? element("span", "outlet", item.source) : null;
  }

  function fieldText(value) {
    if (Array.isArray(value)) return value.map(fieldText).join(", ");
    if (value !== null && typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function plural(n, one, many) {
    return `${n.toLocaleString()} ${n === 1 ? one : many}`;
  }

  function titleOf(item) {
    return item.title && String(item.title).trim() ? String(item.title) : `(untitled: ${item.article_id ?? item.id})`;
  }

  /** Only web links leave the page: a javascript: or data: URL in the archive stays text. */
  function webUrl(url) {
    if (typeof url !== "string") return null;
    try {
      const parsed = new URL(url);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch {
      return null;
    }
  }

  // ---------------------------------------------------------------- messages

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
  }

  function clearError() {
    const box = $("error");
    box.textContent = "";
    box.hidden = true;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  let stats = null;
  async function loadStats() {
    if (stats) return stats;
    try {
      stats = await api("/api/stats");
    } catch (error) {
      $("stats").textContent = error.message; // no index yet, say: searches will say so too
      return null;
    }
    const line = `${plural(stats.articles ?? 0, "article", "articles")} · ${plural(
      stats.passages ?? 0,
      "passage",
      "passages",
    )} · model ${stats.model ?? "?"}`;
    $("footer-stats").textContent = line;
    $("stats").textContent = `The index holds ${line}.`;
    return stats;
  }

  // ---------------------------------------------------------------- the results view

  function showView(name) {
    $("results-view").hidden = name !== "results";
    $("article-view").hidden = name !== "article";
  }

  function hitItem(hit, s, q) {
    const item = element("li", "hit");
    const heading = element("h2", "hit-title");
    heading.append(link(articleUrl(keyOf(hit), paragraphsOf(hit), s), titleOf(hit)));
    item.append(heading);
    const copies = Array.isArray(hit.duplicates) ? hit.duplicates.length : 0;
    const pieces = [
      dateNode(hit.published),
      outlet(hit),
      hit.paragraph ? `paragraph ${hit.paragraph}` : null,
      hit.matched > 1 ? plural(hit.matched, "matching passage", "matching passages") : null,
      copies ? `${plural(copies, "other copy", "other copies")}` : null,
    ];
    item.append(metaLine("hit-meta", pieces));
    const passage = element("p", "hit-text");
    passage.append(highlighted(hit.text, q));
    item.append(passage);
    const fields = Object.entries(hit.fields || {}).filter(([, v]) => fieldText(v));
    if (fields.length) {
      item.append(metaLine("hit-fields", fields.map(([k, v]) => `${k}: ${fieldText(v)}`)));
    }
    return item;
  }

  let shownSearch = null; // the search whose results are listed: "more" adds to them
  let shownHits = [];
  let nextOffset = null; // where its next page starts; null when there is none

  /** Sorted by date, a search lists articles (one hit each), as by article. */
  function unitOf(s) {
    const articles = s.by === "article" || ["newest", "oldest"].includes(s.sort);
    return articles ? ["article", "articles"] : ["passage", "passages"];
  }

  function showCount(s, shown, tookMs) {
    const took = typeof tookMs === "number" ? ` in ${Math.round(tookMs)} ms` : "";
    setStatus(`${plural(shown, ...unitOf(s))} for “${s.q}”${took}`);
  }

  async function showResults(params, how) {
    const s = readSearch(params);
    showView("results");
    fillForm(s);
    document.title = s.q ? `${s.q} — newssearch` : "newssearch";
    const list = $("results");
    const more = $("more");
    const mine = ++ticket;
    controller?.abort();
    controller = new AbortController();
    shownSearch = null;
    shownHits = [];
    nextOffset = null;
    if (!s.q.trim()) {
      list.replaceChildren();
      more.hidden = true;
      setStatus("");
      $("welcome").hidden = false;
      $("found").hidden = true;
      loadStats();
      return;
    }
    $("welcome").hidden = true;
    $("found").hidden = false;
    renderFilters(s);
    $("download").href = exportApi(s);
    $("download").hidden = false;
    setStatus(`Searching for “${s.q}”…`);
    list.setAttribute("aria-busy", "true");
    const again = how === "pop" || how === "view"; // what the page showed before, at once
    showCoverage(s, mine, controller.signal, again);
    let answer;
    try {
      answer = await cached(searchApi(s), controller.signal, again);
    } catch (error) {
      if (error.name === "AbortError" || mine !== ticket) return;
      list.replaceChildren();
      list.removeAttribute("aria-busy");
      for (const part of ["more", "facets", "coverage", "download"]) $(part).hidden = true;
      setStatus(`The search for “${s.q}” failed.`);
      showError(error.message);
      return;
    }
    if (mine !== ticket) return;
    const hits = Array.isArray(answer.hits) ? answer.hits : [];
    const q = queryTerms(s.q);
    list.replaceChildren(...hits.map((hit) => hitItem(hit, s, q)));
    list.removeAttribute("aria-busy");
    if (hits.length) {
      showCount(s, hits.length, answer.took_ms);
    } else {
      setStatus(
        `No results for “${s.q}”. Try other words, “Meaning only”, or fewer filters.`,
      );
    }
    shownSearch = s;
    shownHits = hits;
    nextOffset = Number.isInteger(answer.next_offset) ? answer.next_offset : null;
    more.hidden = nextOffset === null;
    renderFacets(answer.facets, s);
    afterRender(how);
  }

  /** The next page of results, asked for from where the last ended (``next_offset``),
   * added below them; the URL's ``k`` then says how many are shown, for a reload. */
  async function showMore() {
    const s = shownSearch;
    if (!s || nextOffset === null) return;
    const list = $("results");
    const more = $("more");
    const mine = ticket;
    const shown = list.children.length;
    more.disabled = true;
    let answer;
    try {
      answer = await api(searchApi(s, { k: String(MORE), offset: nextOffset }), controller.signal);
    } catch (error) {
      if (error.name === "AbortError" || mine !== ticket) return;
      showError(error.message);
      return;
    } finally {
      more.disabled = false;
    }
    if (mine !== ticket) return;
    shownHits = [...shownHits, ...(Array.isArray(answer.hits) ? answer.hits : [])];
    nextOffset = Number.isInteger(answer.next_offset) ? answer.next_offset : null;
    more.hidden = nextOffset === null;
    // Every link now remembers how many are shown, for the way back from an article.
    shownSearch = { ...s, k: String(Math.min(shownHits.length, MAX_K)) };
    history.replaceState(history.state, "", resultsUrl(shownSearch));
    const q = queryTerms(s.q);
    list.replaceChildren(...shownHits.map((hit) => hitItem(hit, shownSearch, q)));
    showCount(s, shownHits.length, answer.took_ms);
    list.children[shown]?.querySelector("a")?.focus();
  }

  // ---------------------------------------------------------------- filters in use

  /** A search with ``change`` made, from its first page. */
  function changed(s, change) {
    return resultsUrl({ ...s, ...change, k: "" });
  }

  function fieldValue(where) {
    const at = where.indexOf("=");
    return at < 0 ? where : `${where.slice(0, at).trim()}: ${where.slice(at + 1).trim()}`;
  }

  /** Each filter in use as a button that removes it (the chart's period, which the form
   * does not show, among them). */
  function renderFilters(s) {
    const period = periodOf(s);
    const without = (list, value) => list.filter((item) => item !== value);
    const filters = [
      s.period && [`Period: ${period ? periodText(period.first, period.last) : s.period}`, { period: "" }],
      s.since && [`From ${s.since}`, { since: "" }],
      s.until && [`To ${s.until}`, { until: "" }],
      ...s.source.map((value) => [`Outlet: ${value}`, { source: without(s.source, value) }]),
      ...s.collection.map((value) => [
        `Collection: ${value}`,
        { collection: without(s.collection, value) },
      ]),
      ...s.where.map((value) => [fieldValue(value), { where: without(s.where, value) }]),
    ].filter(Boolean);
    const none = { period: "", since: "", until: "", source: [], collection: [], where: [] };
    const buttons = filters.map(([text, change]) =>
      filterButton(text, changed(s, change), "Remove the filter"),
    );
    if (filters.length > 1) buttons.push(filterButton("Clear all", changed(s, none), null));
    $("filter-list").replaceChildren(
      ...buttons.map((button) => {
        const item = element("li");
        item.append(button);
        return item;
      }),
    );
    $("filters").hidden = !filters.length;
  }

  function filterButton(text, url, removes) {
    const button = element("button", removes ? "chip" : "chip clear", text);
    button.type = "button";
    if (removes) {
      button.setAttribute("aria-label", `${removes} ${text}`);
      button.append(element("span", "chip-x", "×"));
      button.lastChild.setAttribute("aria-hidden", "true");
    }
    button.addEventListener("click", () => navigate(url));
    return button;
  }

  // ---------------------------------------------------------------- facets

  /** The matching articles' outlets, collections and field values, each a link to the
   * search narrowed to it (or, when it is in use, widened again). */
  function renderFacets(facets, s) {
    const aside = $("facets");
    if (!facets || typeof facets !== "object") {
      aside.hidden = true;
      return;
    }
    const pick = (list, value, on) => (on ? list.filter((item) => item !== value) : [value]);
    const groups = [
      facetGroup("Outlets", facets.outlets, s, (value) => [
        s.source.includes(value),
        { source: pick(s.source, value, s.source.includes(value)) },
      ]),
    ];
    // One collection says nothing, unless it is the filter in use.
    if ((facets.collections?.length ?? 0) > 1 || s.collection.length) {
      groups.push(
        facetGroup("Collections", facets.collections, s, (value) => [
          s.collection.includes(value),
          { collection: pick(s.collection, value, s.collection.includes(value)) },
        ]),
      );
    }
    for (const [name, counts] of Object.entries(facets.fields || {})) {
      groups.push(
        facetGroup(name, counts, s, (value) => {
          const where = `${name}=${value}`;
          const on = s.where.includes(where);
          return [on, { where: on ? s.where.filter((w) => w !== where) : [...s.where, where] }];
        }),
      );
    }
    const shown = groups.filter(Boolean);
    $("facet-groups").replaceChildren(...shown);
    const matched = facets.matched;
    $("facets-matched").textContent = Number.isInteger(matched)
      ? `Among ${plural(matched, "matching article", "matching articles")}:`
      : "";
    aside.hidden = !shown.length;
  }

  function facetGroup(title, counts, s, choice) {
    if (!Array.isArray(counts) || !counts.length) return null;
    const section = element("section", "facet");
    section.append(element("h3", null, title));
    const list = element("ul", "facet-list");
    for (const { value, articles } of counts) {
      const [on, change] = choice(String(value));
      const a = link(changed(s, change), null, on ? "facet-value on" : "facet-value");
      a.append(
        element("span", "facet-name", value),
        element("span", "facet-count", Number(articles).toLocaleString()),
      );
      const count = plural(Number(articles), "article", "articles");
      a.setAttribute("aria-label", on ? `${value}, ${count}: in use, remove it` : `${value}, ${count}`);
      if (on) a.setAttribute("aria-current", "true");
      const item = element("li");
      item.append(a);
      list.append(item);
    }
    section.append(list);
    return section;
  }

  // ---------------------------------------------------------------- coverage over time

  const SVG = "http://www.w3.org/2000/svg";
  const CHART_HEIGHT = 150;
  const MARGIN = { top: 10, right: 6, bottom: 24, left: 46 };
  const LABEL_GAP = { day: 84, week: 84, month: 64 }; // px each date label needs

  let timeline = null; // { answer, s }: the chart drawn, kept to draw again at a new width

  function svgNode(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function percent(ratio) {
    const value = Number(ratio) * 100;
    return `${value.toLocaleString(undefined, { maximumSignificantDigits: 2 })}%`;
  }

  /** A round number at least ``value``, for the top of the chart. */
  function roundUp(value, whole) {
    if (!(value > 0)) return whole ? 1 : 0.01;
    const power = 10 ** Math.floor(Math.log10(value));
    const top = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]
      .map((m) => m * power)
      .find((m) => m >= value * (1 - 1e-9));
    return whole ? Math.max(1, Math.ceil(top)) : top;
  }

  async function showCoverage(s, mine, signal, useCache) {
    const section = $("coverage");
    const chart = $("chart");
    section.hidden = false;
    chart.setAttribute("aria-busy", "true");
    let answer;
    try {
      answer = await cached(timelineApi(s), signal, useCache);
    } catch (error) {
      if (error.name === "AbortError" || mine !== ticket) return;
      timeline = null;
      chart.replaceChildren();
      chart.removeAttribute("aria-busy");
      $("coverage-rows").replaceChildren();
      $("coverage-summary").textContent = `No chart: ${error.message}`;
      section.hidden = !$("error").hidden; // the search's own error says it already
      return;
    }
    if (mine !== ticket) return;
    timeline = { answer, s };
    drawCoverage();
  }

  function periodsOf(answer) {
    const periods = Array.isArray(answer.periods) ? answer.periods : [];
    return periods.filter((p) => p && typeof p.start === "string" && !p.outlet);
  }

  function periodLabel(p, last) {
    const span = periodText(p.start, last);
    const count = plural(Number(p.count), "matching article", "matching articles");
    const total = Number(p.total_count).toLocaleString();
    return `${span[0].toUpperCase()}${span.slice(1)}: ${count} of ${total} (${percent(p.ratio)})`;
  }

  /** The chart, drawn to the width it has: a bar a period (a link to the results of that
   * period), the most of them at the top of the scale. */
  function drawCoverage() {
    if (!timeline) return;
    const { answer, s } = timeline;
    const chart = $("chart");
    chart.removeAttribute("aria-busy");
    const every = EVERIES.includes(answer.every) ? answer.every : everyOf(s);
    const periods = periodsOf(answer);
    const ratio = s.measure === "ratio";
    $("coverage-summary").textContent = coverageSummary(answer, periods, every);
    if ($("coverage-table").open) fillCoverageTable();
    if (!periods.some((p) => p.count > 0)) {
      chart.replaceChildren();
      return;
    }
    const width = Math.max(chart.clientWidth || 0, 320);
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const plotHeight = CHART_HEIGHT - MARGIN.top - MARGIN.bottom;
    const valueOf = (p) => Number(ratio ? p.ratio : p.count) || 0;
    const top = roundUp(Math.max(...periods.map(valueOf)), !ratio);
    const svg = svgNode("svg", {
      class: ratio ? "chart-svg ratio" : "chart-svg",
      width,
      height: CHART_HEIGHT,
      viewBox: `0 0 ${width} ${CHART_HEIGHT}`,
      role: "group",
      "aria-labelledby": "coverage-title",
      "aria-describedby": "coverage-summary",
    });
    for (const tick of [0, top / 2, top]) {
      if (!ratio && !Number.isInteger(tick)) continue;
      const y = MARGIN.top + plotHeight - (tick / top) * plotHeight;
      const line = { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y };
      svg.append(svgNode("line", { class: tick ? "grid" : "axis", ...line }));
      const label = ratio ? percent(tick) : tick.toLocaleString();
      const at = { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" };
      svg.append(svgNode("text", { class: "tick", ...at }, label));
    }
    const band = plotWidth / periods.length;
    const barWidth = band >= 4 ? band * 0.8 : band;
    const picked = periodOf(s);
    const bars = svgNode("g", { class: picked ? "bars picking" : "bars" });
    let focusable = null;
    let peak = null;
    periods.forEach((p, i) => {
      if (!(p.count > 0)) return;
      const last = periodEnd(p.start, every);
      const on = !!picked && picked.first === p.start && picked.last === last;
      const label = periodLabel(p, last);
      const target = on ? { period: "" } : { period: `${p.start}..${last}` };
      const a = svgNode("a", {
        class: on ? "bar on" : "bar",
        href: changed(s, target),
        "data-nav": "",
        tabindex: -1,
        "aria-label": on ? `${label}: shown, show every period` : label,
      });
      if (on) a.setAttribute("aria-current", "true");
      const x = MARGIN.left + i * band;
      const height = Math.max((valueOf(p) / top) * plotHeight, 1.5);
      a.append(
        svgNode("title", null, label),
        svgNode("rect", { class: "bar-zone", x, y: MARGIN.top, width: band, height: plotHeight }),
        svgNode("rect", {
          class: "bar-fill",
          x: x + (band - barWidth) / 2,
          y: MARGIN.top + plotHeight - height,
          width: barWidth,
          height,
        }),
      );
      bars.append(a);
      if (on) focusable = a;
      if (!peak || valueOf(p) > peak.value) peak = { a, value: valueOf(p) };
    });
    (focusable || peak.a).setAttribute("tabindex", "0"); // one stop; arrows move along
    svg.append(bars, dateLabels(periods, every, band, width));
    chart.replaceChildren(svg);
  }

  function dateLabels(periods, every, band, width) {
    const labels = svgNode("g", { class: "dates", "aria-hidden": "true" });
    const step = Math.max(1, Math.ceil(LABEL_GAP[every] / band));
    let year = null;
    for (let i = 0; i < periods.length; i += step) {
      const x = MARGIN.left + i * band;
      if (x + LABEL_GAP[every] * 0.8 > width && i) break;
      const start = periods[i].start;
      const options = every === "month" ? { month: "short" } : { day: "numeric", month: "short" };
      if (start.slice(0, 4) !== year) options.year = "numeric";
      year = start.slice(0, 4);
      const axis = CHART_HEIGHT - MARGIN.bottom;
      labels.append(svgNode("line", { class: "axis", x1: x, x2: x, y1: axis, y2: axis + 4 }));
      labels.append(svgNode("text", { class: "tick", x, y: CHART_HEIGHT - 6 }, dayText(start, options)));
    }
    return labels;
  }

  /** The chart in words: what it counts, over which span, and its highest period. */
  function coverageSummary(answer, periods, every) {
    const matched = Number(answer.matched) || 0;
    const undated = Number(answer.undated) || 0;
    const dated = periods.filter((p) => p.count > 0);
    const parts = [];
    if (!dated.length) {
      parts.push("No matching article has a date to chart.");
    } else {
      const first = periods[0].start;
      const last = periodEnd(periods[periods.length - 1].start, every);
      const peak = dated.reduce((best, p) => (p.count > best.count ? p : best));
      const when = periodText(peak.start, periodEnd(peak.start, every));
      parts.push(
        `${plural(matched, "matching article", "matching articles")} of ` +
          `${Number(answer.total).toLocaleString()}, per ${every}, ` +
          `${dayText(first, LONG_DAY)} to ${dayText(last, LONG_DAY)}; ` +
          `the most ${every === "day" ? "on" : "in"} ${every === "week" ? "the " : ""}${when} ` +
          `(${peak.count.toLocaleString()}). Pick a bar to see its articles.`,
      );
    }
    if (undated) parts.push(`${plural(undated, "matching article has", "matching articles have")} no date.`);
    return parts.join(" ");
  }

  /** The chart as a table (filled when opened: a day's chart over years is long). */
  function fillCoverageTable() {
    const rows = $("coverage-rows");
    if (!timeline) {
      rows.replaceChildren();
      return;
    }
    const { answer, s } = timeline;
    const every = EVERIES.includes(answer.every) ? answer.every : everyOf(s);
    rows.replaceChildren(
      ...periodsOf(answer).map((p) => {
        const row = element("tr");
        const last = periodEnd(p.start, every);
        const head = element("th");
        head.scope = "row";
        const text = periodText(p.start, last);
        head.append(p.count > 0 ? link(changed(s, { period: `${p.start}..${last}` }), text) : text);
        row.append(
          head,
          element("td", null, Number(p.count).toLocaleString()),
          element("td", null, Number(p.total_count).toLocaleString()),
          element("td", null, percent(p.ratio)),
        );
        return row;
      }),
    );
  }

  /** Arrow keys, Home and End move along the bars; Enter opens one. */
  function onChartKey(event) {
    const bars = [...$("chart").querySelectorAll("a.bar")];
    const at = bars.indexOf(event.target.closest?.("a"));
    const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: bars.length - 1 }[event.key];
    if (at < 0 || to === undefined) return;
    event.preventDefault();
    const next = bars[Math.max(0, Math.min(bars.length - 1, to))];
    bars[at].setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  }

  /** Per day, week or month, articles or their share: the view again, from what the
   * page has already fetched where it can. */
  function onChartControl() {
    const s = {
      ...readSearch(new URLSearchParams(location.search)),
      every: $("every").value,
      measure: $("measure-ratio").checked ? "ratio" : "count",
    };
    history.replaceState(history.state, "", resultsUrl(s));
    route("view");
  }

  // ---------------------------------------------------------------- the article view

  function paragraphRange(value) {
    const found = /^(\d+)(?:-(\d+))?$/.exec(value || "");
    if (!found) return null;
    const first = Number(found[1]);
    return [first, Math.max(first, Number(found[2] || found[1]))];
  }

  function articleMeta(article) {
    const pieces = [dateNode(article.published), outlet(article)];
    const url = webUrl(article.url);
    if (url) {
      const original = element("a", "original", "Original ↗");
      original.href = url;
      original.rel = "noopener noreferrer";
      original.target = "_blank";
      pieces.push(original);
    }
    pieces.push(element("span", "quiet id", `id ${article.id}`));
    return pieces;
  }

  function renderArticle(article, range, q) {
    document.title = `${titleOf(article)} — newssearch`;
    $("article-title").textContent = titleOf(article);
    fillMeta($("article-meta"), articleMeta(article));
    const fields = $("article-fields");
    fields.replaceChildren();
    for (const [name, value] of Object.entries(article.fields || {})) {
      if (!fieldText(value)) continue; // an empty list says nothing
      const wrap = element("div");
      wrap.append(element("dt", null, name), element("dd", null, fieldText(value)));
      fields.append(wrap);
    }
    fields.hidden = !fields.childNodes.length;
    const paragraphs = Array.isArray(article.paragraphs) ? article.paragraphs : [];
    let first = null;
    const body = paragraphs.map((text, i) => {
      const number = i + 1;
      const para = element("p", "para");
      para.id = `p${number}`;
      para.dataset.n = String(number);
      if (range && number >= range[0] && number <= range[1]) {
        para.classList.add("hit");
        para.tabIndex = -1;
        first ??= para;
      }
      para.append(highlighted(text, q));
      return para;
    });
    $("article-body").replaceChildren(...body);
    return first;
  }

  function renderCopies(ids, s, range, signal) {
    const section = $("copies");
    const list = $("copies-list");
    const copies = Array.isArray(ids) ? ids : [];
    section.hidden = !copies.length;
    const p = range ? `${range[0]}${range[1] > range[0] ? `-${range[1]}` : ""}` : "";
    list.replaceChildren(
      ...copies.map((id, i) => {
        const item = element("li");
        const a = link(articleUrl(id, p, s), id);
        item.append(a);
        if (i < COPIES_SHOWN) {
          api(`/api/articles/${encodeURIComponent(id)}`, signal)
            .then((copy) => {
              a.textContent = titleOf(copy);
              item.append(metaLine("quiet small", [outlet(copy), dateNode(copy.published), `id ${id}`]));
            })
            .catch(() => {}); // the link by its id is still there
        }
        return item;
      }),
    );
  }

  async function renderSimilar(id, s, mine, signal) {
    const list = $("similar-list");
    const status = $("similar-status");
    list.replaceChildren();
    status.textContent = "Looking for similar articles…";
    let answer;
    try {
      answer = await api(`/api/articles/${encodeURIComponent(id)}/similar?k=${SIMILAR}`, signal);
    } catch (error) {
      if (error.name === "AbortError" || mine !== ticket) return;
      status.textContent = error.message;
      return;
    }
    if (mine !== ticket) return;
    const hits = Array.isArray(answer.hits) ? answer.hits : [];
    status.textContent = hits.length ? "" : "No similar articles found.";
    list.replaceChildren(
      ...hits.map((hit) => {
        const item = element("li");
        item.append(link(articleUrl(keyOf(hit), paragraphsOf(hit), s), titleOf(hit)));
        item.append(metaLine("quiet small", [outlet(hit), dateNode(hit.published)]));
        return item;
      }),
    );
  }

  async function showArticle(params, how) {
    const s = readSearch(params);
    const id = params.get("id") || "";
    const range = paragraphRange(params.get("p"));
    showView("article");
    fillForm(s);
    $("back").href = resultsUrl(s);
    $("back").textContent = s.q ? `← Back to results for “${s.q}”` : "← Back to search";
    const mine = ++ticket;
    controller?.abort();
    controller = new AbortController();
    const signal = controller.signal;
    $("article-title").textContent = "Loading…";
    for (const part of ["article-meta", "article-fields", "article-body", "copies-list", "similar-list"]) {
      $(part).replaceChildren();
    }
    $("copies").hidden = true;
    $("similar-status").textContent = "";
    if (!id) {
      $("article-title").textContent = "No article";
      showError("This link names no article: it needs ?id=ARTICLE_ID.");
      return;
    }
    let article;
    try {
      article = await cached(`/api/articles/${encodeURIComponent(id)}`, signal, how === "pop");
    } catch (error) {
      if (error.name === "AbortError" || mine !== ticket) return;
      $("article-title").textContent = "Article not available";
      showError(error.message);
      return;
    }
    if (mine !== ticket) return;
    const target = renderArticle(article, range, queryTerms(s.q));
    renderCopies(article.duplicates, s, range, signal);
    renderSimilar(article.id, s, mine, signal);
    if (restoreScroll(how)) return;
    window.scrollTo(0, 0);
    if (target) {
      // Scrolled only when it is not in view already, so a lead paragraph keeps its title.
      if (target.getBoundingClientRect().bottom > window.innerHeight) {
        target.scrollIntoView({ block: "center" });
      }
      target.focus({ preventScroll: true });
    } else {
      $("article-title").focus({ preventScroll: true });
    }
  }

  // ---------------------------------------------------------------- navigation

  /** Back or forward to a view: scrolled where it was left. Whether it was. */
  function restoreScroll(how) {
    const y = history.state?.scroll;
    if (how !== "pop" || typeof y !== "number") return false;
    window.scrollTo(0, y);
    return true;
  }

  function afterRender(how) {
    if (!restoreScroll(how) && (how === "push" || how === "pop")) window.scrollTo(0, 0);
  }

  function route(how) {
    clearError();
    const url = new URL(location.href);
    if (url.searchParams.has("token")) {
      // The server has set its cookie by now; a token must not stay in a shared link.
      url.searchParams.delete("token");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    }
    if (url.pathname === "/article") return showArticle(url.searchParams, how);
    return showResults(url.searchParams, how);
  }

  /** Go to a URL of this page, remembering how to get back to the results. */
  function navigate(url) {
    const here = location.pathname + location.search;
    history.replaceState({ ...history.state, scroll: window.scrollY }, "", here);
    if (url === here) return route("again");
    const fromResults = location.pathname !== "/article";
    const state = history.state || {};
    const next = fromResults
      ? { results: resultsUrl(readSearch(new URLSearchParams(location.search))), depth: 1 }
      : state.results
        ? { results: state.results, depth: state.depth + 1 }
        : {};
    history.pushState(next, "", url);
    return route("push");
  }

  /** Back to the results: through history when they are where we came from (so they show
   * at once, scrolled as they were), else by loading them. */
  function backToResults() {
    const target = $("back").getAttribute("href");
    const state = history.state || {};
    if (state.results === target && state.depth > 0) history.go(-state.depth);
    else navigate(target);
  }

  function onClick(event) {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const a = event.target.closest("a");
    if (!a) return;
    if (a.id === "back") {
      event.preventDefault();
      backToResults();
    } else if (a.id === "home") {
      event.preventDefault();
      fieldQ.value = "";
      navigate("/");
    } else if (a.hasAttribute("data-nav")) {
      event.preventDefault();
      navigate(a.getAttribute("href"));
    }
  }

  /** Whether keys typed at ``target`` are text (so "/" and Escape are theirs). */
  function typing(target) {
    if (!(target instanceof HTMLElement)) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    return target.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset"].includes(target.type);
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/" && !typing(event.target)) {
      event.preventDefault();
      fieldQ.focus();
      fieldQ.select();
    } else if (event.key === "Escape" && !$("article-view").hidden && !typing(event.target)) {
      event.preventDefault();
      backToResults();
    }
  }

  function onSubmit(event) {
    event.preventDefault();
    const s = formSearch();
    if (!s.q) {
      fieldQ.focus();
      return;
    }
    // The period picked on the chart stays while the query and its dates do.
    const shown = readSearch(new URLSearchParams(location.search));
    const same = shown.q === s.q && shown.since === s.since && shown.until === s.until;
    if (location.pathname !== "/article" && same) s.period = shown.period;
    navigate(resultsUrl(s));
  }

  function start() {
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    form.addEventListener("submit", onSubmit);
    for (const id of ["mode", "by", "all", "sort"]) {
      $(id).addEventListener("change", () => {
        if (fieldQ.value.trim()) form.requestSubmit();
      });
    }
    $("more").addEventListener("click", showMore);
    for (const id of ["every", "measure-count", "measure-ratio"]) {
      $(id).addEventListener("change", onChartControl);
    }
    $("chart").addEventListener("keydown", onChartKey);
    $("coverage-table").addEventListener("toggle", () => {
      if ($("coverage-table").open) fillCoverageTable();
    });
    let drawnWidth = 0;
    new ResizeObserver(() => {
      const width = $("chart").clientWidth;
      if (width && width !== drawnWidth) {
        drawnWidth = width;
        drawCoverage();
      }
    }).observe($("chart"));
    document.addEventListener("click", onClick);
    document.addEventListener("keydown", onKey);
    window.addEventListener("popstate", () => route("pop"));
    loadStats();
    route("load");
  }

  start();
})();
