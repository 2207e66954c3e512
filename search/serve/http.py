"""``newssearch serve``: the HTTP API and the web page, over one open index.

Endpoints mirror the CLI (``/api/search`` is ``query --json``, ``/api/articles/{id}`` is
``show --json``, ``/api/timeline`` is ``timeline --json``, ``/api/export`` streams what
``export`` writes); every error is ``{"error": "..."}`` with a status that says whose fault
it is (``service.status_of``), and a parameter a route does not take is one of them. The
page at ``/`` is static files shipped in ``search/web``.

Safe by default: the server binds 127.0.0.1, answers only requests addressed to the host it
listens on (so a web page elsewhere cannot reach it through DNS rebinding), sends no CORS
headers unless asked, is read-only, and takes nothing from a request as a file name. With a
token, every endpoint wants it: as ``Authorization: Bearer TOKEN``, or once as ``?token=`` on
the page, which then keeps it in a cookie for the page's own requests.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import queue
import signal
import socket
import threading
import urllib.parse
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Match

from search._version import __version__
from search.errors import InputError, QueryError, SearchError
from search.index import Alert, AlertRun, ArticleDetail, IndexStats
from search.query.contract import HTTP, SearchRequest, Timeline, checked_flag
from search.serve import api_schema, local_socket
from search.serve.export import MEDIA_TYPES
from search.serve.http_connection import REQUEST_TIMEOUT, bounded_h11
from search.serve.service import Service, status_of
from search.storage.folder import check_path

WEB = Path(__file__).with_name("web")
DOCS_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})
TOKEN_COOKIE = "newssearch_token"
# Queries worked on at once; the rest wait their turn. One per core: on two cores, eight
# threads at once answered half as many queries a second as two (measured in-process).
CONCURRENT_QUERIES = max(1, min(len(os.sched_getaffinity(0)), 8))
EXPORTS = 2  # exports streamed at once; the next waits for one to end
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

log = logging.getLogger("newssearch.server")


def make_app(
    service: Service, *, token: str | None = None, cors_origins: Sequence[str] = ()
) -> FastAPI:
    """The ASGI application serving ``service``."""
    app = FastAPI(
        title="newssearch",
        version=__version__,
        description="Semantic search over a news archive: passages and articles, filtered "
        "by date, outlet and field. Read-only.",
        docs_url=None,  # served below from package files: no CDN
        redoc_url=None,
    )
    limiter = anyio.CapacityLimiter(CONCURRENT_QUERIES)
    exports = ThreadPoolExecutor(EXPORTS, thread_name_prefix="newssearch-export")

    async def run(work: Callable[[], Any]) -> JSONResponse:
        return JSONResponse(await anyio.to_thread.run_sync(work, limiter=limiter))

    # Each route reads its parameters as the URL gives them, for the contract to check
    # (its messages, not FastAPI's); api_schema states them, and the answers, for the schema.
    api = APIRouter(
        dependencies=[
            Depends(_only_listed_parameters(token=token is not None)),
            *api_schema.security(token=token is not None),
        ],
        responses=api_schema.common_answers(token=token is not None),
    )

    @api.get(
        "/api/search",
        operation_id="search",
        summary="Ranked passages (or articles) for a query, a page at a time",
        responses=api_schema.answers(api_schema.SearchPage, 503),
        openapi_extra=api_schema.parameters(api_schema.SEARCH_PARAMETERS),
    )
    async def search(request: Request) -> JSONResponse:
        asked = request.query_params
        query = _request(
            asked,
            k=asked.get("k", "10"),
            by=asked.get("by", "passage"),
            sort=asked.get("sort", "relevance"),
            offset=asked.get("offset", "0"),
        )
        facets = checked_flag(asked.get("facets", "false"), "facets", HTTP)
        return await run(lambda: service.search(query, facets=facets))

    @api.get(
        "/api/timeline",
        operation_id="timeline",
        summary="The matching articles counted by day, week or month, as `timeline --json`",
        responses=api_schema.answers(Timeline, 503),
        openapi_extra=api_schema.parameters(api_schema.TIMELINE_PARAMETERS),
    )
    async def timeline(request: Request) -> JSONResponse:
        asked = request.query_params
        query, every, split = _request(asked), asked.get("every", "week"), asked.get("split")
        return await run(lambda: service.timeline(query, every, split))

    @api.get(
        "/api/export",
        operation_id="export",
        summary="Every matching article as CSV or JSON lines, streamed, as `export`",
        response_class=StreamingResponse,
        responses=api_schema.export_answers(503),
        openapi_extra=api_schema.parameters(api_schema.EXPORT_PARAMETERS),
    )
    async def export(request: Request) -> StreamingResponse:
        asked = request.query_params
        query = _request(asked, sort=asked.get("sort", "relevance"))
        form = asked.get("format", "csv")
        pieces = await anyio.to_thread.run_sync(lambda: service.export(query, form))
        stream = _Stream(pieces, exports)
        try:
            first = await stream.next()  # the query's errors come here, while a 400 can say so
        except BaseException:
            stream.stop()
            raise
        return StreamingResponse(
            stream.rest(first),
            media_type=MEDIA_TYPES[form],
            headers={"Content-Disposition": f'attachment; filename="newssearch.{form}"'},
        )

    @api.get(
        "/api/articles/{article_id:path}/similar",
        operation_id="similar",
        summary="Articles most like one",
        responses=api_schema.answers(api_schema.Hits, 404, 503),
        openapi_extra=api_schema.parameters(api_schema.SIMILAR_PARAMETERS),
    )
    async def similar(request: Request) -> JSONResponse:
        article_id, k = request.path_params["article_id"], request.query_params.get("k", "10")
        return await run(lambda: service.similar(article_id, k))

    @api.get(
        "/api/articles/{article_id:path}",
        operation_id="article",
        summary="A whole article, as `show --json`",
        responses=api_schema.answers(ArticleDetail, 404, 503),
        openapi_extra=api_schema.parameters(api_schema.ARTICLE_PARAMETERS),
    )
    async def article(request: Request) -> JSONResponse:
        article_id = request.path_params["article_id"]
        return await run(lambda: service.article(article_id))

    @api.get(
        "/api/stats",
        operation_id="stats",
        summary="Counts, model and format, as `info --json`",
        responses=api_schema.answers(IndexStats, 503),
    )
    async def stats() -> JSONResponse:
        return await run(service.stats)

    @api.get(
        "/api/health",
        operation_id="health",
        summary="Whether the index can be read, and its commit",
        responses=api_schema.answers(api_schema.Health, 503),
    )
    async def health() -> JSONResponse:
        return await run(service.health)

    _add_alerts(api, service, run, writable=token is not None)
    app.include_router(api)
    app.state.api_routes = list(api.routes)  # for a 405's Allow (``_allowed``)
    app.state.index_name = service.path
    _add_page(app)
    _add_errors(app)
    _add_guards(app, index=service.path, token=token, cors_origins=cors_origins)
    return app


def _request(asked: QueryParams, **more: Any) -> SearchRequest:
    """The request a URL asks for: the query, its mode and filters, and ``more``."""
    return SearchRequest.make(
        asked.get("q"),
        mode=asked.get("mode", "hybrid"),
        since=asked.get("since"),
        until=asked.get("until"),
        sources=asked.getlist("source") or None,
        where=asked.getlist("where") or None,
        every_copy=asked.get("all", "false"),
        collections=asked.getlist("collection") or None,
        door=HTTP,
        **more,
    )


def _only_listed_parameters(*, token: bool) -> Callable[[Request], None]:
    """A check that refuses a parameter the route does not list (a misspelt filter would
    otherwise widen the answer without a word); ``token`` is every route's when the server
    has one."""

    def check(request: Request) -> None:
        route = request.scope.get("route")
        listed = (getattr(route, "openapi_extra", None) or {}).get("parameters", [])
        known = [p["name"] for p in listed if p["in"] == "query"] + (["token"] if token else [])
        for name in request.query_params:
            if name not in known:
                path = getattr(route, "path_format", request.url.path)
                takes = f"takes {', '.join(known)}" if known else "takes no parameters"
                raise QueryError(f"unknown parameter {name!r} — {path} {takes}")

    return check


_END = object()  # the stream's end, as its thread hands it on
_WAITING = object()  # nothing handed on yet


class _Stream:
    """Pieces of text that ``pieces`` makes in one thread of ``pool`` (an index's read
    transaction belongs to the thread that opened it), handed to the event loop through a
    short queue: the thread waits while the client reads slowly, and stops when it goes."""

    def __init__(self, pieces: Generator[str, None, None], pool: ThreadPoolExecutor) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        pool.submit(self._make, pieces)

    def _make(self, pieces: Generator[str, None, None]) -> None:
        try:
            for piece in pieces:
                if not self._put(piece.encode("utf-8")):
                    return
            self._put(_END)
        except BaseException as error:  # raised again in the event loop, which answers it
            self._put(error)
        finally:
            pieces.close()  # here, in the thread that read it

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.2)
                return True
        return False

    def _get(self) -> object:
        try:
            return self._queue.get(timeout=1.0)
        except queue.Empty:
            return _WAITING

    async def next(self) -> bytes | None:
        """The next piece, None at the end; an error the thread met is raised here."""
        item = _WAITING
        while item is _WAITING:
            item = await anyio.to_thread.run_sync(self._get)
        if isinstance(item, BaseException):
            raise item
        return None if item is _END else item  # type: ignore[return-value]

    async def rest(self, first: bytes | None) -> AsyncIterator[bytes]:
        """``first``, then every other piece; the thread stops when this does."""
        try:
            piece = first
            while piece is not None:
                yield piece
                piece = await self.next()
        finally:
            self.stop()

    def stop(self) -> None:
        """Let the thread go: it makes no more pieces."""
        self._stop.set()


READ_ONLY = (
    "this server is read-only: it saves, removes and runs alerts only when started with "
    "--token — or use `newssearch alert` on the index"
)


def _add_alerts(
    api: APIRouter,
    service: Service,
    run: Callable[[Callable[[], Any]], Awaitable[JSONResponse]],
    *,
    writable: bool,
) -> None:
    """Alerts: listed by anyone who may read; saved, removed and run (each a write to the
    index) only by a server with a token, for the token's holder."""

    async def write(work: Callable[[], Any]) -> JSONResponse:
        if not writable:
            return _error(403, READ_ONLY, None)
        return await run(work)

    @api.get(
        "/api/alerts",
        operation_id="alerts",
        summary="The saved alerts, as `alert list --json`",
        responses=api_schema.answers(api_schema.Alerts, 503),
    )
    async def alerts() -> JSONResponse:
        return await run(service.alerts)

    @api.post(
        "/api/alerts/{name}",
        operation_id="add_alert",
        summary="Save a search as an alert, as `alert add`",
        responses=api_schema.answers(Alert, 403, 409, 503),
        openapi_extra=api_schema.parameters(api_schema.ALERT_PARAMETERS),
    )
    async def add_alert(request: Request) -> JSONResponse:
        query = _request(request.query_params)
        name = request.path_params["name"]
        return await write(lambda: service.add_alert(name, query))

    @api.delete(
        "/api/alerts/{name}",
        operation_id="remove_alert",
        summary="Forget an alert, as `alert remove`",
        responses=api_schema.answers(api_schema.Removed, 403, 404, 503),
        openapi_extra=api_schema.parameters([api_schema.ALERT_NAME]),
    )
    async def remove_alert(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        return await write(lambda: service.remove_alert(name))

    @api.post(
        "/api/alerts/{name}/run",
        operation_id="run_alert",
        summary="The articles committed since an alert last ran that match it, as `alert run`",
        responses=api_schema.answers(AlertRun, 403, 404, 503),
        openapi_extra=api_schema.parameters([api_schema.ALERT_NAME]),
    )
    async def run_alert(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        return await write(lambda: service.run_alert(name))


def _add_page(app: FastAPI) -> None:
    import swagger_ui_bundle

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    swagger = Path(swagger_ui_bundle.swagger_ui_path)

    @app.get("/docs-assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:  # the three files /docs loads, not the whole bundle
            raise StarletteHTTPException(404)
        return FileResponse(swagger / name)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/article", include_in_schema=False)
    async def article_page() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="newssearch API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _add_errors(app: FastAPI) -> None:
    @app.exception_handler(SearchError)
    async def search_error(request: Request, error: SearchError) -> JSONResponse:
        named = str(request.app.state.index_name)
        # A message naming the index as the server was told it is left to the CLI to say.
        index = named if named in str(error) else None
        return _error(status_of(error), str(error), error.exit_code, index=index)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in error.errors()
        )
        return _error(400, f"bad request — {problems}", InputError.exit_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = "no such endpoint — see /docs" if error.status_code == 404 else error.detail
        headers = error.headers
        allowed = _allowed(request) if error.status_code == 405 else []
        if allowed:  # Starlette's Allow names the first route's methods only
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return _error(error.status_code, str(message), None, headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s", request.url.path)
        return _error(500, f"internal error ({type(error).__name__}) — see the server's log", 1)


def _allowed(request: Request) -> list[str]:
    """The methods of every API route at the request's path (alerts have two at one)."""
    methods: set[str] = set()
    for route in request.app.state.api_routes:
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE:
            methods.update(route.methods or ())
    return sorted(methods)


def _error(
    status: int,
    message: str,
    exit_code: int | None,
    headers: Mapping[str, str] | None = None,
    index: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if exit_code is not None:
        body["exit_code"] = exit_code
    if index is not None:
        body["index"] = index  # the fast path leaves such a message to the CLI
    return JSONResponse(body, status_code=status, headers=headers)


def _add_guards(
    app: FastAPI, *, index: Path, token: str | None, cors_origins: Sequence[str]
) -> None:
    """Host check, token and security headers; CORS, when asked, outside them, so that a
    browser's preflight (which carries no token) is answered. Requests on the fast path's
    Unix socket skip the host and token checks: only this user can open it. Every answer
    names the index it comes from, for the fast path to check."""
    named = local_socket.index_header(index)

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        private = _on_unix_socket(request)
        host = _host_of(request.headers.get("host", ""))
        if not private and not request.app.state.answers_host(host):
            return _error(421, f"this server does not answer for host {host!r}", None)
        if not _valid_utf8(request):
            return _error(400, "the request's address is not valid UTF-8", InputError.exit_code)
        cookie = f"{TOKEN_COOKIE}_{request.url.port or 80}"  # one per server on this host
        if token is not None and not private:
            offered = _offered_token(request, cookie)
            if offered is None or not hmac.compare_digest(offered.encode(), token.encode()):
                return _error(401, "this server wants its token — see `newssearch serve`", None)
        response = await call_next(request)
        if token is not None and request.query_params.get("token") == token:
            response.set_cookie(cookie, token, httponly=True, samesite="strict")
        _secure(response, request.url.path)
        response.headers["X-Newssearch-Index"] = named
        return response

    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET"],
            allow_headers=["Authorization"],
        )
    app.state.answers_host = answers_host("127.0.0.1")  # ``serve`` sets its own address


def _secure(response: Response, path: str) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if path != "/docs":
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
            "base-uri 'none'; form-action 'self'; object-src 'none'"
        )
    if path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"  # revalidated: never a stale app.js


def _on_unix_socket(request: Request) -> bool:
    server = request.scope.get("server")
    return server is not None and server[1] is None  # uvicorn: (socket path, None)


def _valid_utf8(request: Request) -> bool:
    """Whether the path and query decode as UTF-8: a server that replaced bad bytes would
    answer a query nobody asked."""
    raw_path = request.scope.get("raw_path") or b""
    try:
        urllib.parse.unquote_to_bytes(raw_path).decode("utf-8")
        urllib.parse.parse_qsl(
            request.scope.get("query_string", b"").decode("latin-1"),
            keep_blank_values=True,
            errors="strict",
        )
    except UnicodeDecodeError:
        return False
    return True


def _offered_token(request: Request, cookie: str) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("token") or request.cookies.get(cookie)


def _host_of(header: str) -> str:
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def answers_host(host: str) -> Callable[[str], bool]:
    """Which Host headers a server bound to ``host`` answers, against DNS rebinding (a page
    elsewhere whose name is made to point here): its own address, and for a loopback one
    ``localhost``; on a wildcard address, IP literals and this machine's own names, never
    another name."""
    if host not in ("0.0.0.0", "::", ""):
        names = {host, *(LOCAL_HOSTS if _is_loopback(host) else ())}
        return names.__contains__
    names = {*LOCAL_HOSTS, socket.gethostname().lower(), socket.getfqdn().lower()}

    def wildcard(header: str) -> bool:
        try:
            ipaddress.ip_address(header)
        except ValueError:
            return header.lower() in names
        return True

    return wildcard


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket: bound here, so the address (a free port when 0) is known before
    the server runs, and a busy port is a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP,
    # and without it each keep-alive answer waited 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM stops the server as Ctrl-C does, through the same ``finally`` (which removes
    the private socket's file). uvicorn catches both while it runs, and raises the signal
    again once it has shut down: SIGTERM's default action would then end the process before
    any ``finally`` ran."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread, and only it may handle them
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@_stopped_by_sigterm()
def serve(
    path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    cors_origins: Sequence[str] = (),
    model: str | None = None,
    announce: Callable[[str], None] = print,
    shards: int | None = None,
    replicas: int = 1,
    ray_address: str | None = None,
    request_timeout: float = REQUEST_TIMEOUT,
) -> None:
    """Serve the index at ``path`` until interrupted; while it runs, the CLI's fast path
    finds it through a private Unix socket (``local_socket.listen_privately``). With
    ``shards``, the index is served sharded on Ray Serve (``ray_serve``), behind the same
    HTTP server. A client has ``request_timeout`` seconds to send each whole request, and
    a request's head is bounded (``http_connection``)."""
    import uvicorn

    check_path(path)  # before anything is made or said with it
    sock = bind(host, port)  # first: a busy port is said before the model loads
    cluster = None
    private = None
    try:
        if shards is None:
            service = Service(path, model=model)
        else:
            from search.scale.ray_serve import ShardedCluster

            cluster = ShardedCluster.start(
                path, shards, replicas=replicas, address=ray_address, model=model
            )
            for number, scope in enumerate(cluster.scopes, start=1):
                announce(f"shard {number} of {len(cluster.scopes)}: {scope.describe()}")
            service = Service(path, model=model, opener=cluster.client)
    except BaseException:
        sock.close()
        if cluster is not None:
            cluster.close()
        raise
    try:
        service.warm()
        app = make_app(service, token=token, cors_origins=cors_origins)
        app.state.answers_host = answers_host(host)
        bound_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{bound_port}"
        config = uvicorn.Config(
            app,
            http=bounded_h11(request_timeout),
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            lifespan="off",
        )
        private = local_socket.listen_privately(path)
        sockets = [sock] if private is None else [sock, private.sock]
        announce(f"serving {path} at {address}/ (API docs at {address}/docs) — Ctrl-C stops")
        uvicorn.Server(config).run(sockets=sockets)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server is stopped: uvicorn has shut down cleanly by now
    finally:
        if private is not None:
            private.close()
        sock.close()
        service.close()
        if cluster is not None:
            cluster.close()


def warn_if_exposed(host: str, write: Callable[[str], None]) -> None:
    if not _is_loopback(host):
        write(
            f"warning: listening on {host}: anyone who can reach this machine can read the "
            "index — use --token, and a firewall"
        )
