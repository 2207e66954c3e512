"""The query path: a model exported to ONNX, run with onnxruntime and tokenizers.

``export_onnx`` writes the export once (torch is loaded then anyway), to ``onnx_path``;
``_OnnxModel`` embeds one query with it, in a fraction of the time torch takes to import.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from search.embedding.model_files import _read_json

__all__ = ["export_onnx", "onnx_path"]


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
