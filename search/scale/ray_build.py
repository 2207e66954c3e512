"""``newssearch index --engine ray``: reading, chunking and embedding on a Ray cluster.

Everything but the work itself stays the local path's: the driver plans against the store
under the index's writer lock, and commits what comes back through the same atomic commit
(segments, store, lexical index), so a build on a cluster is the local build, made faster.

- Reading and preparing (chunking within the model's window) of each changed source file is
  a Ray task (``planner.read_and_prepare``); the driver gets them in order.
- Embedding runs in a pool of actors, each loading the model once (a GPU each where the
  cluster has them), fed batches of passages in order; an actor that dies is restarted and
  its batch retried by Ray.
- The cluster: ``RAY_ADDRESS`` or ``--ray-address`` names one; otherwise a local one is
  started with ``--workers`` CPUs (default: this machine's) and stopped afterwards.

Ray is an optional extra: ``pip install 'newssearch[ray]'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from search.embedding import Embedder, load_embedder
from search.errors import InputError, ModelMismatchError
from search.ingest.article import SourceFile
from search.storage.manifest import Settings
from search.write.planner import Read, Reader, read_and_prepare

__all__ = ["RayEngine", "connect"]

EMBED_ROWS = 256  # passages in one actor call: enough to batch well, small to spread
RETRIES = 3  # times Ray retries a task or an actor's call after its worker died

_MISSING = "--engine ray needs Ray, an optional extra: pip install 'newssearch[ray]'"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(_MISSING) from None
    return ray


def connect(ray: Any, address: str | None, local_cpus: int) -> tuple[bool, bool]:
    """Join the Ray cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local one of
    ``local_cpus`` CPU slots, unless this process is connected already: whether it connected
    now, and whether to a cluster of its own (``ray.shutdown`` then stops that cluster)."""
    if ray.is_initialized():
        return False, False
    address = address or os.environ.get("RAY_ADDRESS") or None
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
    }
    if address is None:
        options["num_cpus"] = local_cpus
    try:
        # "local": a new cluster here, even where `ray start` runs one.
        ray.init(address=address or "local", **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise InputError(f"cannot reach the Ray cluster at {address}: {error}") from None
    return True, address is None


class RayEngine:
    """A Ray cluster for one indexing run; ``close`` when done (a local one stops)."""

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        ray = _ray()
        if workers is not None and workers < 1:
            raise InputError("--workers must be at least 1")
        self._ray = ray
        # A local cluster: one embedding actor a core, and one more slot for the reading
        # tasks (actors hold their CPU for life, so a later run on the same cluster reads
        # its files while they still hold theirs).
        self._started, _ = connect(ray, address, (workers or os.cpu_count() or 1) + 1)
        resources = ray.cluster_resources()
        self.cpus = int(resources.get("CPU", 1))
        self.gpus = int(resources.get("GPU", 0))
        # Actors: one a GPU, else one a CPU but one (left to the reading tasks).
        self.workers = workers or max(1, self.gpus or self.cpus - 1)
        self.last_embedder: _RayEmbedder | None = None

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reader(self, settings: Settings) -> Reader:
        return _RayReader(self._ray, settings)

    def embedder(self, local: Embedder, model: str) -> Embedder:
        """An embedder that computes vectors on the cluster, and everything else (the
        window, token spans, a query) with ``local``, the same model."""
        self.last_embedder = _RayEmbedder(self._ray, local, model, self.workers, gpus=self.gpus > 0)
        return self.last_embedder


class _RayReader(Reader):
    """Reads and prepares sources as Ray tasks, all submitted at once, got in order."""

    def __init__(self, ray: Any, settings: Settings) -> None:
        self._ray, self._settings = ray, settings
        self._futures: dict[str, Any] = {}
        self._task = ray.remote(num_cpus=1, max_retries=RETRIES)(_read_task)

    def submit(self, sources: list[SourceFile]) -> None:
        settings = self._ray.put(self._settings)
        for source in sources:
            self._futures[str(source.path)] = self._task.remote(source, settings)

    def get(self, source: SourceFile) -> Read:
        future = self._futures.pop(str(source.path), None)
        if future is None:
            return super().get(source)
        read: Read = self._ray.get(future)
        return read


_TOKENIZERS: dict[str, Embedder] = {}


def _read_task(source: SourceFile, settings: Settings) -> Read:
    """A Ray task: one file read and its articles prepared. The model's tokenizer is loaded
    once per worker process (its weights never are)."""
    embedder = _TOKENIZERS.get(settings.model)
    if embedder is None:
        embedder = _TOKENIZERS[settings.model] = load_embedder(settings.model)
    return read_and_prepare(source, settings, embedder)


class _EmbedActor:
    """One model loaded once, embedding the batches it is sent."""

    def __init__(self, model: str, fingerprint: str) -> None:
        self._embedder = load_embedder(model)
        if self._embedder.fingerprint != fingerprint:
            raise ModelMismatchError(
                f"a Ray worker loaded {model} with fingerprint {self._embedder.fingerprint}, "
                f"not the index's {fingerprint}: install the same model on every node"
            )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed(texts)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.embed_batch(texts)  # type: ignore[attr-defined]

    def pid(self) -> int:
        """This actor's process (tests kill it, to see Ray restart it)."""
        return os.getpid()


class _RayEmbedder:
    """The index's model, its ``embed`` spread over an actor pool."""

    def __init__(self, ray: Any, local: Embedder, model: str, actors: int, *, gpus: bool):
        self._ray, self._local, self._model = ray, local, model
        self._count, self._gpus = actors, gpus
        self._pool: Any = None
        self.actors: list[Any] = []
        self.name, self.dimension = local.name, local.dimension
        self.fingerprint, self.max_tokens = local.fingerprint, local.max_tokens

    def start(self) -> None:
        """Start the actors, each loading the model (seconds). At the first batch, not
        before planning: on two cores, loading beside the reading tasks made the build
        slower (1.23x the local one against 1.09x, bench_ray.py)."""
        if self.actors:
            return
        actor = self._ray.remote(
            num_cpus=0 if self._gpus else 1,
            num_gpus=1 if self._gpus else 0,
            max_restarts=RETRIES,
            max_task_retries=RETRIES,
        )(_EmbedActor)
        self.actors = [actor.remote(self._model, self.fingerprint) for _ in range(self._count)]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self._local.token_spans(text)

    def embed_query(self, text: str) -> np.ndarray:
        return self._local.embed_query(text)

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        from ray.util import ActorPool

        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        if self._pool is None:
            self.start()
            self._pool = ActorPool(self.actors)
        plan = getattr(self._local, "batches", None)
        if plan is None:  # an embedder of another kind: batches of EMBED_ROWS in order
            chunks = [texts[i : i + EMBED_ROWS] for i in range(0, len(texts), EMBED_ROWS)]
            calls = self._pool.map(lambda a, chunk: a.embed.remote(chunk), chunks)
            return self._gathered(calls, [len(c) for c in chunks], progress)
        # The local model's own batches, each one forward pass on an actor: the vectors
        # are the ones this process would have computed, bit for bit.
        distinct, rows_of, batches = plan(texts)
        work = [[distinct[i] for i in rows] for rows in batches]
        calls = self._pool.map(lambda a, batch: a.embed_batch.remote(batch), work)
        vectors = self._gathered(calls, [len(b) for b in work], progress)
        out = np.empty_like(vectors)
        out[np.concatenate([np.asarray(rows, dtype=np.int64) for rows in batches])] = vectors
        return out[rows_of]

    def _gathered(
        self, calls: Any, sizes: list[int], progress: Callable[[int], None] | None
    ) -> np.ndarray:
        out = []
        for vectors, size in zip(calls, sizes, strict=True):
            out.append(np.asarray(vectors, dtype=np.float32))
            if progress is not None:
                progress(size)
        return np.concatenate(out)
