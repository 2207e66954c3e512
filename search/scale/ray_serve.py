"""``newssearch serve --engine ray --shards N``: the index served by Ray Serve, sharded.

- Each shard (``shards.plan_shards``: a range of publication months) is a deployment of its
  own, ``--replicas`` replicas each holding the shard's vectors in memory (``ShardReader``).
- The router, a deployment too, holds the model and the store: it embeds a query once,
  asks the shards a filter allows for their candidates, merges them, and runs fusion,
  article ranking, duplicates and hydrating on the merged lists (``ShardedSearcher``).
- In front, the same HTTP server, page and fast path as ``newssearch serve``: its
  ``Service`` opens a ``RouterClient`` instead of an ``Index``.

Replicas read the index folder, so on a cluster of several machines it must be on a file
system that all of them mount at the same path. A replica that dies is restarted by Ray
Serve; until then, queries that need its shard fail with ``ShardUnavailableError`` (HTTP
503) naming it, and with ``--replicas 2`` or more another replica answers.

Needs the extra: ``pip install 'newssearch[ray]'``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from search.domain.filters import Scope
from search.errors import IndexNotFoundError, InputError, SearchError, ShardUnavailableError
from search.query.contract import SearchRequest
from search.query.shards import Failure, ShardedSearcher, ShardReader, plan_shards
from search.scale.ray_build import connect
from search.storage.folder import Reopening

__all__ = ["RouterClient", "ShardedCluster"]

SHARD_SECONDS = 30.0  # a shard's answer to one call, at most (a commit's rows copied too)
ROUTER_SECONDS = 60.0  # the router's answer to one request, at most
DEPLOY_SECONDS = 180.0  # every replica started (the model loaded, the rows copied), at most
CONCURRENT = 16  # requests a replica takes at once
ROUTER_METHODS = frozenset({"search", "article", "similar", "stats"})

_log = logging.getLogger(__name__)
_MISSING = "--engine ray needs Ray Serve, an optional extra: pip install 'newssearch[ray]'"


def _serve() -> Any:
    try:
        import ray
        from ray import serve
    except ImportError:
        raise InputError(_MISSING) from None
    return ray, serve


class ShardServer:
    """A shard's replica (a Ray Serve deployment): ``ShardReader``'s methods, errors as
    values. The shard's vectors are copied into memory as the replica starts."""

    def __init__(self, folder: str, number: int, scope: Scope) -> None:
        from search.index import Index

        self.folder, self.number = Path(folder), number
        reader = functools.partial(ShardReader, scope=scope)
        self._index = Reopening(self.folder, lambda: Index.open(self.folder, searcher=reader))
        self.asked = 0  # candidates calls answered: a test sees which shards a query reached
        self._call("describe", ())  # reads the shard's rows now, not in the first query

    def _reader(self) -> ShardReader:
        searcher = self._index.get().searcher
        assert isinstance(searcher, ShardReader)
        return searcher

    def candidates(self, *args: Any) -> Any:
        self.asked += 1
        return self._call("candidates", args)

    def vectors(self, *args: Any) -> Any:
        return self._call("vectors", args)

    def describe(self) -> Any:
        described = self._call("describe", ())
        if isinstance(described, dict):
            described = {**described, "shard": self.number + 1, "asked": self.asked}
        return described

    def _call(self, method: str, args: tuple[Any, ...]) -> Any:
        try:
            return getattr(self._reader(), method)(*args)
        except SearchError as error:
            return Failure(error)
        except Exception as error:  # a bug: said, and logged in full where Ray keeps logs
            _log.exception("shard %d: %s failed", self.number + 1, method)
            return Failure(ShardUnavailableError(f"shard {self.number + 1} failed: {_said(error)}"))


class RayShard:
    """The router's handle on one shard's deployment (``shards.ShardClient``)."""

    def __init__(self, number: int, count: int, scope: Scope, handle: Any) -> None:
        self.number, self.count, self.scope, self._handle = number, count, scope, handle

    def ask(self, method: str, *args: Any) -> Callable[[], Any]:
        try:
            response = getattr(self._handle, method).remote(*args)
        except Exception as error:  # noqa: BLE001 - any failure to send is the shard's absence
            return functools.partial(self._unavailable, error)
        return functools.partial(self._answer, response)

    def _answer(self, response: Any) -> Any:
        try:
            value = response.result(timeout_s=SHARD_SECONDS)
        except Exception as error:  # noqa: BLE001 - a dead replica, a timeout, a lost node
            _cancel(response)
            self._unavailable(error)
        if isinstance(value, Failure):
            raise value.error
        return value

    def _unavailable(self, error: BaseException) -> Any:
        raise ShardUnavailableError(
            f"shard {self.number + 1} of {self.count} ({self.scope.describe()}) is not "
            f"answering ({type(error).__name__}): its replica died or is busy, and Ray Serve "
            "restarts a dead one — try again shortly"
        ) from None


class RouterServer:
    """The router (a Ray Serve deployment): an ``Index`` whose searcher asks the shards."""

    def __init__(self, folder: str, model: str | None, scopes: list[Scope], *handles: Any) -> None:
        from search.index import Index

        self.folder = Path(folder)
        pairs = enumerate(zip(scopes, handles, strict=True))
        clients = [RayShard(number, len(scopes), scope, h) for number, (scope, h) in pairs]

        def open_router() -> Index:
            index = Index.open(
                self.folder,
                model=model,
                searcher=lambda path, settings: ShardedSearcher(path, settings, clients),
            )
            _ = index.embedder  # the model loads once, with the replica
            return index

        self._index = Reopening(self.folder, open_router)
        self._clients = clients
        try:
            self._index.get()
        except SearchError:
            pass  # no index yet: requests will say so

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method not in ROUTER_METHODS:
            return Failure(InputError(f"the router has no method {method!r}"))
        try:
            return getattr(self._index.get(), method)(*args, **kwargs)
        except SearchError as error:
            return Failure(error)
        except Exception as error:  # a bug: said, and logged in full where Ray keeps logs
            _log.exception("router: %s failed", method)
            return Failure(ShardUnavailableError(f"the router failed: {_said(error)}"))

    def shards(self) -> list[dict[str, Any]]:
        """Each shard's ``describe``, in order; a shard not answering: its scope and error."""
        waiting = [(client, client.ask("describe")) for client in self._clients]
        found = []
        for client, wait in waiting:
            try:
                found.append(wait())
            except SearchError as error:
                found.append({"scope": client.scope.describe(), "error": str(error)})
        return found


class RouterClient:
    """What ``Service`` opens for a sharded server: the ``Index`` methods it calls, each
    asked of the router deployment."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def search(self, text: str | SearchRequest, **options: Any) -> Any:
        """``Index.search`` on the router: a door's request, or text and options (the
        service's warm-up query)."""
        return self._call("search", (text,), options)

    def article(self, article_id: str) -> Any:
        return self._call("article", (article_id,), {})

    def similar(self, article_id: str, k: int = 10) -> Any:
        return self._call("similar", (article_id,), {"k": k})

    def stats(self) -> Any:
        return self._call("stats", (), {})

    def shards(self) -> list[dict[str, Any]]:
        """What each shard holds now (``ShardReader.describe``), or its error."""
        result: list[dict[str, Any]] = self._ask(self._handle.shards)
        return result

    def close(self) -> None:
        return None  # the cluster's deployments are stopped by ``ShardedCluster.close``

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self._ask(self._handle.call, method, args, kwargs)

    def _ask(self, remote: Any, *args: Any) -> Any:
        """One of the router's methods called with ``args``: its answer, or its error."""
        response = None
        try:
            response = remote.remote(*args)
            value = response.result(timeout_s=ROUTER_SECONDS)
        except Exception as error:  # noqa: BLE001 - a dead router, a timeout
            _cancel(response)
            raise ShardUnavailableError(
                f"the router is not answering ({type(error).__name__}) — it is restarting; "
                "try again shortly"
            ) from None
        if isinstance(value, Failure):
            raise value.error
        return value


class ShardedCluster:
    """The deployments serving one index: started by ``start``, stopped by ``close`` (the
    application deleted; a local Ray cluster started for it stopped)."""

    def __init__(
        self, ray: Any, serve: Any, name: str, scopes: list[Scope], connected: bool, local: bool
    ) -> None:
        self._ray, self._serve, self.name, self.scopes = ray, serve, name, scopes
        self._connected, self._local = connected, local
        self.handle: Any = None

    @classmethod
    def start(
        cls,
        folder: Path,
        shards: int,
        *,
        replicas: int = 1,
        address: str | None = None,
        model: str | None = None,
    ) -> ShardedCluster:
        """Plan ``shards`` shards of the index at ``folder`` and deploy them and a router."""
        ray, serve = _serve()
        if replicas < 1:
            raise InputError("--replicas must be at least 1")
        scopes = _plan(folder, shards)
        if not ray.is_initialized():
            _quiet()
        connected, local = connect(
            ray, address, max(os.cpu_count() or 1, (len(scopes) + 1) * replicas)
        )
        # One application a server: two servers of one index on a cluster are two apps.
        key = f"{folder.resolve()}\0{os.getpid()}\0{time.time_ns()}"
        name = "newssearch-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        cluster = cls(ray, serve, name, scopes, connected, local)
        try:
            cluster.handle = cluster._deploy(folder.resolve(), replicas, model)
        except BaseException as error:
            cluster.close()
            if isinstance(error, Exception) and not isinstance(error, SearchError):
                raise InputError(f"Ray Serve could not start the shards: {_said(error)}") from None
            raise
        return cluster

    def _deploy(self, folder: Path, replicas: int, model: str | None) -> Any:
        serve = self._serve
        serve.start(proxy_location="Disabled", logging_config={"log_level": "WARNING"})
        shard_apps = [
            serve.deployment(
                ShardServer,
                name=f"shard-{number + 1}",
                num_replicas=replicas,
                max_ongoing_requests=CONCURRENT,
                ray_actor_options={"num_cpus": 1},
            ).bind(str(folder), number, scope)
            for number, scope in enumerate(self.scopes)
        ]
        router = serve.deployment(
            RouterServer,
            name="router",
            num_replicas=replicas,
            max_ongoing_requests=CONCURRENT,
            ray_actor_options={"num_cpus": 1},
        ).bind(str(folder), model, self.scopes, *shard_apps)
        target = serve.RunTarget(target=router, name=self.name, route_prefix=None)
        [handle] = serve.run_many(
            [target],
            wait_for_ingress_deployment_creation=False,
            wait_for_applications_running=False,
        )
        self._wait_running(replicas)
        return handle

    def _wait_running(self, replicas: int) -> None:
        """Until every replica runs; a deployment that fails, or replicas that find no
        room on the cluster for ``DEPLOY_SECONDS``, are one line (Ray Serve would wait)."""
        from ray.serve.schema import ApplicationStatus

        deadline = time.monotonic() + DEPLOY_SECONDS
        message = ""
        while time.monotonic() < deadline:
            found = self._serve.status().applications.get(self.name)
            if found is not None:
                message = " ".join(found.message.split())
                if found.status == ApplicationStatus.RUNNING:
                    return
                if found.status in (ApplicationStatus.DEPLOY_FAILED, ApplicationStatus.UNHEALTHY):
                    raise InputError(f"Ray Serve could not start the shards: {message[:500]}")
            time.sleep(0.25)
        needed = (len(self.scopes) + 1) * replicas
        raise InputError(
            f"Ray Serve did not start the shards within {DEPLOY_SECONDS:.0f} s"
            + (f" ({message[:300]})" if message else "")
            + f" — its {needed} replicas ({len(self.scopes)} shards and a router, {replicas} "
            "each) ask for a CPU each: give the cluster room, or fewer --shards or --replicas"
        )

    def client(self) -> RouterClient:
        return RouterClient(self.handle)

    def close(self) -> None:
        if self._local:
            self._ray.shutdown()  # the local cluster stops, and Serve with it
            return
        try:
            self._serve.delete(self.name)  # a cluster of others': only our application goes
        except Exception:  # noqa: BLE001, S110 - the cluster may be gone already
            pass
        if self._connected:
            self._ray.shutdown()  # disconnects

    def __enter__(self) -> ShardedCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plan(folder: Path, shards: int) -> list[Scope]:
    """The shards of the index at ``folder``, or a one-line error: no index, an old one."""
    from search.storage.database import Store
    from search.storage.folder import STORE, check_folder
    from search.storage.manifest import format_version

    check_folder(folder, for_writing=False)
    if not (folder / STORE).is_file():
        raise IndexNotFoundError(
            f"no index at {folder} to shard — build it first with `newssearch index`"
        )
    store = Store.open(folder / STORE, readonly=True)
    try:
        if format_version(store.get_meta(), store.path) < 2:
            raise InputError(
                f"the index at {folder} is of format 1 — run `newssearch index` on it once "
                "to upgrade it, then shard it"
            )
        return plan_shards(*store.passage_days(), shards)
    finally:
        store.close()


def _cancel(response: Any) -> None:
    """A call that failed or timed out must not wait on in a replica's queue."""
    with contextlib.suppress(Exception):
        if response is not None:
            response.cancel()


def _said(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def _quiet() -> None:
    """Ray Serve's driver-side INFO lines are not the user's business."""
    for name in ("ray", "ray.serve"):
        logging.getLogger(name).setLevel(logging.WARNING)
