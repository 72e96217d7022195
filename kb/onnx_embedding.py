"""The runtime embedder of the ONNX backends: ``tokenizers`` + ONNX Runtime, no torch.

It reproduces sentence-transformers' all-MiniLM-L6-v2 pipeline (word pieces truncated at
``max_seq_length``, the transformer, mean pooling over the attention mask, L2 normalisation) on the model
exported by :mod:`kb.onnx_model`. Importing this module and loading an exported model costs about
0.3 s and never imports torch, transformers or sentence-transformers (a test checks it).

Two sessions of the same model: one with ``threads`` intra-op threads answers single queries and small
calls (a 14-token query: 4.0 ms on 2 threads, 6.2 ms on one); the other, single-threaded and created on
the first bulk call, is run by ``threads`` Python threads at once, one batch each. Batches of one
256-token passage split poorly across cores (a barrier after every operator), so whole batches side by
side embed SciFact passages ~10% faster on this 2-core machine, and much faster while other processes
compete for the cores. The vectors are the same either way: batches are formed identically.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from kb.cores import available_cores
from kb.embedding import INT8_SUFFIX, base_model_name, model_dir
from kb.onnx_model import OUTPUT_NAME, ensure_onnx_model, read_manifest
from kb.settings import EmbeddingSettings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # as the torch path; no warnings after fork

# Most word pieces (rows x padded width) per model call, besides ``embedding.batch_size`` rows.
# Small batches keep the attention scores and FFN activations in cache: on this 2-core machine
# 256-token passages ran fastest one per call (32 per call: 1.1-1.4x slower), short questions
# ~12 per call (more was slower too). On passages this is most of the ONNX speed-up over torch.
BATCH_TOKENS = 256


class OnnxEmbedder:
    """An :class:`kb.embedding.Embedder` running an exported ONNX model on the CPU."""

    def __init__(
        self,
        model_path: Path,
        tokenizer_dir: Path,
        *,
        model_name: str,
        max_seq_length: int = 256,
        batch_size: int = 32,
        threads: int = 0,
        batch_tokens: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.model_name = model_name
        self.batch_size = max(1, batch_size)
        self.batch_tokens = BATCH_TOKENS if batch_tokens is None else max(1, batch_tokens)
        self.threads = threads if threads > 0 else available_cores()
        self.session = self._new_session(self.threads)
        self._bulk_session: ort.InferenceSession | None = None  # single-threaded, see the module docstring
        self._bulk_lock = threading.Lock()
        self.input_names = {i.name for i in self.session.get_inputs()}

        config = json.loads((Path(tokenizer_dir) / "config.json").read_text(encoding="utf-8"))
        width = self.session.get_outputs()[0].shape[-1]
        self.dimension = int(width) if isinstance(width, int) else int(config["hidden_size"])
        self.max_seq_length = min(max_seq_length, int(config.get("max_position_embeddings") or max_seq_length))
        self.tokenizer = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
        padding = self.tokenizer.padding  # the file may pad to a fixed 128; batches are padded here instead
        self.pad_id = int(padding["pad_id"]) if padding else int(self.tokenizer.token_to_id("[PAD]") or 0)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)

    @classmethod
    def from_settings(cls, settings: EmbeddingSettings, cache_dir: Path, *, quantized: bool) -> OnnxEmbedder:
        """The fp32 or int8 model for ``settings``, exported into ``cache_dir`` if not there yet.

        Model names: int8 vectors are ``<base>+onnx-int8``; fp32 ONNX vectors share the torch name only
        if the export check found them identical (max abs diff < 1e-5), else ``<base>+onnx``.
        """
        path = ensure_onnx_model(settings, cache_dir, quantized=quantized)
        base = base_model_name(settings)
        if quantized:
            name = base + INT8_SUFFIX
        else:
            check = (read_manifest(path) or {}).get("check") or {}
            name = base if check.get("identical_to_torch") is True else base + "+onnx"
        return cls(
            path,
            model_dir(settings),
            model_name=name,
            max_seq_length=settings.max_seq_length,
            batch_size=settings.batch_size,
            threads=settings.threads,
        )

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given. Texts are batched
        longest first (homogeneous batches pad less), and with several batches and cores, batches run
        side by side; so pass large lists."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = self._batches(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        if self.threads > 1 and len(batches) > 1:
            session = self._bulk()
            with ThreadPoolExecutor(min(self.threads, len(batches)), thread_name_prefix="kb-embed") as pool:
                # longest batches first, each worker taking the next when done: the cores finish together
                results = pool.map(lambda batch: self._forward(session, batch[1], batch[2]), batches)
                for (rows, _, _), pooled in zip(batches, results, strict=True):
                    vectors[rows] = pooled
        else:
            for rows, ids, mask in batches:
                vectors[rows] = self._forward(self.session, ids, mask)
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_passages([text])[0]

    def _batches(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(rows, padded ids, mask) per model call: longest texts first, at most ``batch_size`` rows and
        about ``batch_tokens`` word pieces (rows x padded width) each."""
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")
        batches = []
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])  # the longest of this batch: the order is longest first
            rows = order[start : start + max(1, min(self.batch_size, self.batch_tokens // width))]
            start += len(rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            batches.append((rows, ids, mask))
        return batches

    def _new_session(self, threads: int) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: no initializer notices in CLI output
        # Idle pool threads sleep instead of spin-waiting, so faiss/numpy work (or a second session)
        # in this process is not starved of the cores between model calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])

    def _bulk(self) -> ort.InferenceSession:
        """The single-threaded session for bulk calls, created on first use (int8: +63 MiB, fp32: +89)."""
        with self._bulk_lock:
            if self._bulk_session is None:
                self._bulk_session = self._new_session(1)
            return self._bulk_session

    def _forward(self, session: ort.InferenceSession, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run([OUTPUT_NAME], feeds)[0]
        weights = mask.astype(np.float32)
        summed = np.matmul(weights[:, None, :], hidden)[:, 0, :]  # sum of the real tokens' states
        pooled = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32, copy=False)
