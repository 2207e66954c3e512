// The search page: one page that reads its state from the URL (/?q=... for results,
// /article?id=...&p=...&q=... for an article), so every view can be shared as a link and
// the browser's back and forward buttons work. Every value from the server is shown as
// text (textContent, createElement), never parsed as markup: titles and passages are
// whatever the archive held.
"use strict";

(() => {
  const PAGE = 10; // results asked for at first
  const MORE = 20; // added by "Show more results"
  const MAX_K = 1000; // the server's limit
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

  const $ = (id) => document.getElementById(id);
  const form = $("search");
  const fieldQ = $("q");
  const cache = new Map(); // API URL -> answer, so back and forward show results at once
  let ticket = 0; // the newest view asked for; older answers are dropped
  let controller = null;

  // ---------------------------------------------------------------- state and URLs

  /** A search as the URL holds it. Values stay as given (a shared link with a bad value
   * gets the server's message for it, not a silent default). */
  function readSearch(params) {
    return {
      q: params.get("q") || "",
      mode: params.get("mode") || "",
      since: params.get("since") || "",
      until: params.get("until") || "",
      source: params.getAll("source").filter(Boolean),
      where: params.getAll("where").filter(Boolean),
      by: params.get("by") || "",
      all: params.has("all") ? params.get("all") : null,
      k: params.get("k") || "",
    };
  }

  /** URL parameters for a search, leaving out what is the default. */
  function searchParams(s) {
    const params = new URLSearchParams();
    if (s.q) params.set("q", s.q);
    if (s.mode && s.mode !== "hybrid") params.set("mode", s.mode);
    if (s.since) params.set("since", s.since);
    if (s.until) params.set("until", s.until);
    for (const value of s.source) params.append("source", value);
    for (const value of s.where) params.append("where", value);
    if (s.by && s.by !== "passage") params.set("by", s.by);
    if (s.all !== null && s.all !== "false") params.set("all", s.all);
    if (s.k) params.set("k", s.k);
    return params;
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
      // "topics=crude, places=usa" or "topics=crude places=usa"; a value may hold spaces.
      where: splitList($("where").value, /\s*[,;]\s*|\s+(?=[\p{L}_][\p{L}\p{N}_-]*=)/u),
      by: $("by").checked ? "article" : "passage",
      all: $("all").checked ? "true" : null,
      k: "",
    };
  }

  function fillForm(s) {
    if (document.activeElement !== fieldQ || fieldQ.value.trim() !== s.q) fieldQ.value = s.q;
    const mode = $("mode");
    mode.value = ["hybrid", "dense", "lexical"].includes(s.mode) ? s.mode : "hybrid";
    $("since").value = s.since;
    $("until").value = s.until;
    $("source").value = s.source.join(", ");
    $("where").value = s.where.join(", ");
    $("by").checked = s.by === "article";
    $("all").checked = s.all !== null && !["false", "0", "no"].includes(s.all.toLowerCase());
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

  /** The query's words to mark, as search/highlight.py picks them. */
  function queryTerms(query) {
    const terms = new Set();
    for (const match of String(query).matchAll(WORD)) {
      const word = fold(match[0]);
      if (word && !STOPWORDS.has(word)) terms.add(word);
    }
    return { terms, prefixes: [...terms].filter((t) => t.length >= PREFIX_MIN) };
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
    if (!s.q.trim()) {
      list.replaceChildren();
      more.hidden = true;
      setStatus("");
      $("welcome").hidden = false;
      loadStats();
      return;
    }
    $("welcome").hidden = true;
    setStatus(`Searching for “${s.q}”…`);
    list.setAttribute("aria-busy", "true");
    let answer;
    try {
      answer = await cached(`/api/search?${searchParams(s)}`, controller.signal, how === "pop");
    } catch (error) {
      if (error.name === "AbortError" || mine !== ticket) return;
      list.replaceChildren();
      list.removeAttribute("aria-busy");
      more.hidden = true;
      setStatus(`The search for “${s.q}” failed.`);
      showError(error.message);
      return;
    }
    if (mine !== ticket) return;
    const hits = Array.isArray(answer.hits) ? answer.hits : [];
    const q = queryTerms(s.q);
    list.replaceChildren(...hits.map((hit) => hitItem(hit, s, q)));
    list.removeAttribute("aria-busy");
    const k = Number.parseInt(s.k, 10) || PAGE;
    const unit = s.by === "article" ? ["article", "articles"] : ["passage", "passages"];
    const took = typeof answer.took_ms === "number" ? ` in ${Math.round(answer.took_ms)} ms` : "";
    if (hits.length) {
      setStatus(`${plural(hits.length, ...unit)} for “${s.q}”${took}`);
    } else {
      setStatus(
        `No results for “${s.q}”. Try other words, “Meaning only”, or fewer filters.`,
      );
    }
    more.hidden = hits.length < k || k >= MAX_K;
    afterRender(how);
  }

  function showMore() {
    const s = readSearch(new URLSearchParams(location.search));
    const k = Number.parseInt(s.k, 10) || PAGE;
    const shown = $("results").children.length;
    const url = resultsUrl({ ...s, k: String(Math.min(k + MORE, MAX_K)) });
    history.replaceState(history.state, "", url);
    route("more").then(() => {
      const next = $("results").children[shown]?.querySelector("a");
      next?.focus();
    });
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
    navigate(resultsUrl(s));
  }

  function start() {
    if ("scrollRestoration" in history) history.scrollRestoration = "manual";
    form.addEventListener("submit", onSubmit);
    for (const id of ["mode", "by", "all"]) {
      $(id).addEventListener("change", () => {
        if (fieldQ.value.trim()) form.requestSubmit();
      });
    }
    $("more").addEventListener("click", showMore);
    document.addEventListener("click", onClick);
    document.addEventListener("keydown", onKey);
    window.addEventListener("popstate", () => route("pop"));
    loadStats();
    route("load");
  }

  start();
})();
