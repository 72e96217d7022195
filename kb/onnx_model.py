"""Exporting the sentence-transformers model to ONNX once (fp32, and an int8 per-channel variant).

The export needs torch and transformers, imported inside :func:`_export_fp32` only; everything else here
(checking the cache) is cheap, so loading an already-exported model never imports them.

Layout under ``cache_dir`` (normally ``<instance>/models``)::

    <model name>-<hash of the source folder path>/
        model-fp32.onnx   model-fp32.json     the TorchScript export and its manifest
        model-int8.onnx   model-int8.json     dynamic int8 quantisation of model-fp32.onnx
        .lock                                 flock'ed while exporting

A manifest records the source folder, the sha256 (and size/mtime) of its weights file, the variant, the
export recipe and the versions used. A model is reused only when its manifest matches the source; a
missing, corrupt or foreign manifest means "export again". Files are written to a temporary name,
fsync'ed and renamed into place (manifest last), so a crash never leaves a half model that looks valid,
and an exclusive lock on ``.lock`` keeps two processes from exporting at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from kb.durable_files import atomic_write, replace_durably, temporary_path
from kb.embedding import base_model_name, model_dir
from kb.errors import SettingsError
from kb.settings import EmbeddingSettings

# Bump when the export or quantisation recipe changes: every cached model is then exported again.
RECIPE = 1
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# fp32 export vs sentence-transformers, pooled and normalised vectors: above this the export is refused.
EXPORT_TOLERANCE = 1e-4
# Below this the fp32 ONNX vectors count as identical to torch's and share its model name.
IDENTICAL_TOLERANCE = 1e-5
# Sanity floor for the int8 model on the check sentences (it measures 0.99 on real text).
INT8_MIN_COSINE = 0.95
# Dynamic int8 quantisation, measured on SciFact on this CPU (AVX2, no VNNI; BENCHMARKS.md):
# per-channel QInt8 weights keep mean cosine 0.99 to fp32 where per-tensor drops to 0.92;
# quantising MatMul only (not the Gather of the word-embedding table) was as good and no slower;
# reduce_range changed neither quality nor speed measurably, so it stays off.
QUANTIZATION = {"per_channel": True, "weight_type": "QInt8", "reduce_range": False, "op_types": ["MatMul"]}

CHECK_SENTENCES = (
    "Do you support single sign-on with Okta?",
    "How long does implementation take?",
    "pricing",
    "",
    "The Growth plan costs 49 dollars per user per month, billed annually, with a 14 day free trial. " * 30,
    "Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace, and SCIM provisioning of "
    "users and groups on the Enterprise plan.",
)


class OnnxExportError(SettingsError):
    """The configured model cannot be run by the ONNX backends; ``embedding.backend = "torch"`` can."""


def variant_name(quantized: bool) -> str:
    return "int8" if quantized else "fp32"


def model_cache_dir(settings: EmbeddingSettings, cache_dir: Path) -> Path:
    """The cache folder of one source model: its name plus a hash of its resolved path."""
    source = model_dir(settings).resolve()
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{base_model_name(settings)}-{digest}"


def onnx_path(settings: EmbeddingSettings, cache_dir: Path, *, quantized: bool) -> Path:
    return model_cache_dir(settings, cache_dir) / f"model-{variant_name(quantized)}.onnx"


def manifest_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def read_manifest(model_path: Path) -> dict[str, Any] | None:
    """The manifest next to an exported model, or None when missing or unreadable."""
    try:
        data = json.loads(manifest_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ensure_onnx_model(settings: EmbeddingSettings, cache_dir: Path, *, quantized: bool) -> Path:
    """Path of the ONNX model for ``settings`` (fp32, or int8 when ``quantized``), exported on first use.

    Fast path (the usual one): the manifest matches the source folder; nothing heavy is imported.
    Otherwise the export runs under an exclusive lock, then the manifest is checked again in case
    another process exported meanwhile.
    """
    source = _source_dir(settings)
    target = onnx_path(settings, cache_dir, quantized=quantized)
    if _is_current(target, source, quantized=quantized, fast=True):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.parent / ".lock"):
        _remove_stale_temporaries(target.parent)
        if _is_current(target, source, quantized=quantized, fast=False):
            return target
        if quantized:
            fp32 = _ensure_fp32_locked(settings, source, target.parent / "model-fp32.onnx")
            _quantize(settings, source, fp32, target)
        else:
            _ensure_fp32_locked(settings, source, target)
    return target


def _ensure_fp32_locked(settings: EmbeddingSettings, source: Path, target: Path) -> Path:
    """The fp32 model, exported if needed; the caller holds the lock."""
    if not _is_current(target, source, quantized=False, fast=False):
        _export_fp32(settings, source, target)
    return target


# -- the cache check ---------------------------------------------------------------------------------
def _source_dir(settings: EmbeddingSettings) -> Path:
    source = model_dir(settings).resolve()
    _check_supported(source)
    return source


def _weights_file(source: Path) -> Path:
    for name in WEIGHT_FILES:
        if (source / name).is_file():
            return source / name
    raise OnnxExportError(f"embedding.model_path: no {' or '.join(WEIGHT_FILES)} in {source}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_record(source: Path, *, with_hash: bool) -> dict[str, Any]:
    weights = _weights_file(source)
    stat = weights.stat()
    record: dict[str, Any] = {
        "path": str(source),
        "weights": weights.name,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "config_sha256": _sha256(source / "config.json"),
    }
    if with_hash:
        record["sha256"] = _sha256(weights)
    return record


def _is_current(target: Path, source: Path, *, quantized: bool, fast: bool) -> bool:
    """Does ``target`` hold a finished export of ``source``'s current weights?

    ``fast``: trust the weights file's recorded size and mtime instead of hashing 90 MB (the check on
    every load); the locked check hashes the weights when size or mtime differ, and refreshes the stat
    in the manifest when the content is in fact unchanged (a reinstall of the same package).
    """
    manifest = read_manifest(target)
    if not manifest or manifest.get("recipe") != RECIPE or manifest.get("variant") != variant_name(quantized):
        return False
    if manifest.get("onnx_file") != target.name:
        return False
    try:
        if target.stat().st_size != manifest.get("onnx_bytes"):
            return False
    except OSError:
        return False
    recorded = manifest.get("source")
    if not isinstance(recorded, dict):
        return False
    current = _source_record(source, with_hash=False)
    for key in ("path", "weights", "config_sha256"):
        if recorded.get(key) != current[key]:
            return False
    if recorded.get("size") == current["size"] and recorded.get("mtime_ns") == current["mtime_ns"]:
        return isinstance(recorded.get("sha256"), str)
    if fast:
        return False
    if recorded.get("sha256") != _sha256(source / current["weights"]):
        return False
    manifest["source"] = {**recorded, "size": current["size"], "mtime_ns": current["mtime_ns"]}
    atomic_write(manifest_path(target), json.dumps(manifest, indent=2).encode())
    return True


def _check_supported(source: Path) -> None:
    """The ONNX path reproduces Transformer -> mean Pooling -> (Normalize); refuse anything else."""
    modules_file = source / "modules.json"
    if not (source / "tokenizer.json").is_file():
        raise OnnxExportError(f"embedding.backend: no tokenizer.json in {source}; use backend = \"torch\"")
    if not modules_file.is_file():
        return  # a plain transformers folder: sentence-transformers itself adds mean pooling
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise OnnxExportError(f"embedding.model_path: {modules_file} is not valid JSON: {exc}") from None
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds[:1] != ["Transformer"] or kinds[1:2] != ["Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise OnnxExportError(
            f"embedding.backend: the ONNX backends support Transformer + mean Pooling models, {source} has "
            f"{' + '.join(kinds)}; use backend = \"torch\""
        )
    if modules[0].get("path"):
        raise OnnxExportError(
            f"embedding.backend: {source} keeps its transformer in a sub-folder; use backend = \"torch\""
        )
    pooling_file = source / str(modules[1].get("path", "")) / "config.json"
    try:
        pooling = json.loads(pooling_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pooling = {"pooling_mode_mean_tokens": True}  # sentence-transformers' default
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode_") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise OnnxExportError(
            f"embedding.backend: the ONNX backends support mean pooling only, {source} uses "
            f"{', '.join(sorted(modes)) or 'none'}; use backend = \"torch\""
        )


# -- writing -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_stale_temporaries(folder: Path) -> None:
    """Leftovers of an export that crashed; only the lock holder writes here, so none is in use."""
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantiser logs advice ("consider pre-processing") on the root logger, and may install a root
    handler (``logging.basicConfig``) that would then print every library's debug records: keep CLI output clean."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)


def _versions(*names: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _write_manifest(target: Path, source: Path, *, quantized: bool, extra: dict[str, Any]) -> None:
    manifest = {
        "recipe": RECIPE,
        "variant": variant_name(quantized),
        "onnx_file": target.name,
        "onnx_bytes": target.stat().st_size,
        "source": _source_record(source, with_hash=True),
        "opset": OPSET,
        "versions": _versions("onnx", "onnxruntime", "torch", "transformers", "sentence-transformers"),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    atomic_write(manifest_path(target), json.dumps(manifest, indent=2).encode())


def _export_fp32(settings: EmbeddingSettings, source: Path, target: Path) -> None:
    """TorchScript export of the transformer (eager attention: a plain graph with no SDPA mask logic),
    dynamic batch and sequence axes; then checked against sentence-transformers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import inspect

    import torch
    import transformers

    transformers.logging.disable_progress_bar()
    began = time.perf_counter()
    manifest_path(target).unlink(missing_ok=True)  # from here on the old file is not trusted
    # bandit B615 (Hub download without a pinned revision) does not apply: `source` is a local folder
    model = transformers.AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()  # nosec B615
    accepted = inspect.signature(model.forward).parameters
    input_names = [name for name in INPUT_NAMES if name in accepted]

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(input_names, inputs, strict=True))).last_hidden_state

    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102, 0], [101, 2178, 102, 0, 0, 0, 0]], dtype=torch.int64)
    ids = ids.clamp(max=int(model.config.vocab_size) - 1)
    sample = {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, OUTPUT_NAME]}
    tmp = temporary_path(target.parent, target.name)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # TracerWarnings and the TorchScript-exporter deprecation notice
            torch.onnx.export(
                LastHiddenState(model),
                tuple(sample[name] for name in input_names),
                str(tmp),
                dynamo=False,
                input_names=input_names,
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
            )
        max_diff = _verify_fp32(settings, source, tmp)
        replace_durably(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_manifest(target, source, quantized=False, extra={
        "inputs": input_names,
        "export_seconds": round(time.perf_counter() - began, 2),
        "check": {"sentences": len(CHECK_SENTENCES), "max_abs_diff_to_torch": max_diff,
                  "identical_to_torch": max_diff < IDENTICAL_TOLERANCE},
    })


def _verify_fp32(settings: EmbeddingSettings, source: Path, candidate: Path) -> float:
    """Max abs difference between the candidate's pooled vectors and sentence-transformers'."""
    from kb.embedding import SentenceTransformerEmbedder
    from kb.onnx_embedding import OnnxEmbedder

    reference = SentenceTransformerEmbedder(settings).embed_passages(list(CHECK_SENTENCES))
    onnx = OnnxEmbedder(candidate, source, model_name="check", max_seq_length=settings.max_seq_length, threads=1)
    vectors = onnx.embed_passages(list(CHECK_SENTENCES))
    max_diff = float(np.abs(vectors - reference).max())
    if not max_diff < EXPORT_TOLERANCE:
        raise OnnxExportError(
            f"embedding.backend: the ONNX export of {source} differs from sentence-transformers by {max_diff:.2e} "
            f"(limit {EXPORT_TOLERANCE:.0e}); use backend = \"torch\""
        )
    return max_diff


def _quantize(settings: EmbeddingSettings, source: Path, fp32: Path, target: Path) -> None:
    """Dynamic int8 quantisation with per-channel weights (see ``QUANTIZATION``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from kb.onnx_embedding import OnnxEmbedder

    began = time.perf_counter()
    manifest_path(target).unlink(missing_ok=True)
    tmp = temporary_path(target.parent, target.name)
    try:
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                fp32,
                tmp,
                per_channel=bool(QUANTIZATION["per_channel"]),
                reduce_range=bool(QUANTIZATION["reduce_range"]),
                weight_type=getattr(QuantType, str(QUANTIZATION["weight_type"])),
                op_types_to_quantize=list(QUANTIZATION["op_types"]),
            )
        kwargs = {"max_seq_length": settings.max_seq_length, "threads": 1}
        reference = OnnxEmbedder(fp32, source, model_name="fp32", **kwargs).embed_passages(list(CHECK_SENTENCES))
        vectors = OnnxEmbedder(tmp, source, model_name="int8", **kwargs).embed_passages(list(CHECK_SENTENCES))
        min_cosine = float((vectors * reference).sum(axis=1).min())
        if not min_cosine > INT8_MIN_COSINE:
            raise OnnxExportError(
                f"embedding.backend: the int8 model of {source} is too far from fp32 (min cosine {min_cosine:.3f}); "
                f"use backend = \"onnx\""
            )
        replace_durably(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fp32_manifest = read_manifest(fp32) or {}
    _write_manifest(target, source, quantized=True, extra={
        "inputs": fp32_manifest.get("inputs"),
        "quantization": QUANTIZATION,
        "quantize_seconds": round(time.perf_counter() - began, 2),
        "check": {"sentences": len(CHECK_SENTENCES), "min_cosine_to_fp32": round(min_cosine, 5)},
    })
