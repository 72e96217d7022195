"""``kb bench embedding``: torch vs ONNX fp32 vs ONNX int8 on the same real passages, in one run.

The machine this runs on is shared and noisy, so backends are compared within one process and
interleaved: the passages are cut into chunks and every chunk is embedded by each backend back to back
(the order rotating per chunk); a ratio is the torch time over the backend's time on the same chunks,
and the median of the per-chunk ratios is reported beside it. Query latency is measured in rotating
blocks of 50 queries; cold start in fresh ``python -c`` processes, interleaved too.
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from kb.embedding import Embedder, load_embedder
from kb.settings import EmbeddingSettings

BACKENDS = ("torch", "onnx", "onnx-int8")
TORCH_BATCH1 = "torch-batch1"
DEMO_DIR = Path(__file__).resolve().parent / "demo"
PASSAGE_WORDS = 170
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")
ProgressFn = Callable[[str], None]

COLD_START_CODE = """
import json, sys, time
began = time.perf_counter()
def peak_rss_mib():  # VmHWM: ru_maxrss would include the forking parent's peak
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None

from pathlib import Path
from kb.embedding import load_embedder
from kb.settings import EmbeddingSettings
imported = time.perf_counter()
embedder = load_embedder(EmbeddingSettings(**json.loads(sys.argv[1])), Path(sys.argv[2]))
loaded = time.perf_counter()
embedder.embed_query("Do you support single sign-on with Okta?")
done = time.perf_counter()
print(json.dumps({
    "import_s": imported - began, "load_s": loaded - imported, "first_query_s": done - loaded,
    "heavy_modules": [m for m in HEAVY_MODULES if m in sys.modules], "model_name": embedder.model_name,
    "peak_rss_mib": peak_rss_mib(),
}))
""".replace("HEAVY_MODULES", repr(HEAVY_MODULES))


# -- texts ---------------------------------------------------------------------------------------------
def demo_passages(count: int, words: int = PASSAGE_WORDS) -> list[str]:
    """``count`` distinct passages of ``words`` words from the demo site's pages (title first).

    The demo site has ~19k words: at the chunker's 30-word overlap that is ~130 passages, so for more
    the windows overlap further (the stride shrinks until there are enough).
    """
    docs: list[tuple[str, list[str]]] = []
    for path in sorted((DEMO_DIR / "content").rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        title = ""
        if text.startswith("+++"):
            _, front, text = text.split("+++", 2)
            title = str(tomllib.loads(front).get("title", ""))
        body = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # markdown links -> their text
        docs.append((title, body.replace("#", " ").split()))
    total = sum(len(w) for _, w in docs)
    stride = words - 30
    while True:
        windows = [
            f"{title}\n{' '.join(w[start : start + words])}"
            for title, w in docs
            for start in range(0, max(1, len(w) - 30), stride)
        ]
        if len(windows) >= count or stride == 1:
            return windows[:count]
        stride = max(1, min(stride - 1, total // max(count, 1)))


def corpus_passages(path: Path, count: int) -> list[str]:
    """The first ``count`` documents of a BEIR ``corpus.jsonl``, as ``title\\ntext``."""
    passages = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if len(passages) >= count:
                break
            if line.strip():
                doc = json.loads(line)
                passages.append(f"{doc.get('title', '')}\n{doc.get('text', '')}".strip())
    return passages


def load_queries(corpus: Path | None, count: int) -> list[str]:
    """Short questions: the BEIR ``queries.jsonl`` beside the corpus, else the demo's sales questions."""
    if corpus is not None and (corpus.parent / "queries.jsonl").is_file():
        queries = []
        with (corpus.parent / "queries.jsonl").open(encoding="utf-8") as handle:
            for line in handle:
                if len(queries) >= count:
                    break
                if line.strip():
                    queries.append(json.loads(line)["text"])
        return queries
    with (DEMO_DIR / "questions.csv").open(encoding="utf-8", newline="") as handle:
        return list(dict.fromkeys(row["question"] for row in csv.DictReader(handle)))[:count]


# -- measurements -------------------------------------------------------------------------------------
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _throughput(
    embedders: dict[str, Embedder], passages: list[str], chunk: int, progress: ProgressFn
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    names = list(embedders)
    for name in names:  # warm-up: first calls allocate buffers and (ORT) finish graph set-up
        embedders[name].embed_passages(passages[:64])
    seconds = {name: [] for name in names}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    chunks = [passages[i : i + chunk] for i in range(0, len(passages), chunk)]
    for number, texts in enumerate(chunks):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            began = time.perf_counter()
            parts[name].append(embedders[name].embed_passages(texts))
            seconds[name].append(time.perf_counter() - began)
        progress(f"chunk {number + 1}/{len(chunks)}: " + ", ".join(
            f"{name} {len(texts) / seconds[name][-1]:.1f}/s" for name in names))
    base = np.asarray(seconds["torch"])
    result = {}
    for name in names:
        mine = np.asarray(seconds[name])
        result[name] = {
            "seconds": round(float(mine.sum()), 2),
            "passages_per_second": round(len(passages) / float(mine.sum()), 2),
            "ratio_to_torch": round(float(base.sum() / mine.sum()), 3),
            "median_chunk_ratio_to_torch": round(float(np.median(base / mine)), 3),
        }
    return result, {name: np.concatenate(p) for name, p in parts.items()}


def _latency(embedders: dict[str, Embedder], queries: list[str], count: int, block: int = 50) -> dict[str, Any]:
    names = list(embedders)
    stream = [queries[i % len(queries)] for i in range(count)]
    for name in names:
        for query in stream[:10]:
            embedders[name].embed_query(query)
    times: dict[str, list[float]] = {name: [] for name in names}
    for number, start in enumerate(range(0, count, block)):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            for query in stream[start : start + block]:
                began = time.perf_counter()
                embedders[name].embed_query(query)
                times[name].append((time.perf_counter() - began) * 1000)
    result = {}
    for name in names:
        ms = np.asarray(times[name])
        result[name] = {"p50_ms": round(float(np.percentile(ms, 50)), 2),
                        "p99_ms": round(float(np.percentile(ms, 99)), 2),
                        "mean_ms": round(float(ms.mean()), 2)}
    p50 = result["torch"]["p50_ms"]
    for name in names:
        result[name]["p50_speedup_vs_torch"] = round(p50 / result[name]["p50_ms"], 2)
    return result


def _cold_start(settings: EmbeddingSettings, cache_dir: Path, runs: int, progress: ProgressFn) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in BACKENDS}
    for run in range(runs):
        shift = run % len(BACKENDS)
        for name in BACKENDS[shift:] + BACKENDS[:shift]:
            config = json.dumps(asdict(replace(settings, backend=name)))
            began = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", COLD_START_CODE, config, str(cache_dir)],
                capture_output=True, text=True, check=True, env=env,
            )
            wall = time.perf_counter() - began
            samples[name].append({**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall})
        progress(f"cold start run {run + 1}/{runs}: " + ", ".join(
            f"{name} {samples[name][-1]['wall_s']:.2f} s" for name in BACKENDS))
    result = {}
    for name, runs_of in samples.items():
        result[name] = {
            key: round(statistics.median(s[key] for s in runs_of), 3)
            for key in ("wall_s", "import_s", "load_s", "first_query_s", "peak_rss_mib")
        }
        result[name]["heavy_modules"] = sorted({m for s in runs_of for m in s["heavy_modules"]})
        result[name]["model_name"] = runs_of[0]["model_name"]
    return result


def _top_k(queries: np.ndarray, passages: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ passages.T
    top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def _compare(
    passages_a: np.ndarray, passages_b: np.ndarray, queries_a: np.ndarray, queries_b: np.ndarray, k: int = 10
) -> dict[str, Any]:
    passage_cos = (passages_a * passages_b).sum(axis=1)
    query_cos = (queries_a * queries_b).sum(axis=1)
    top_a, top_b = _top_k(queries_a, passages_a, k), _top_k(queries_b, passages_b, k)
    agreement = [len(set(a) & set(b)) / k for a, b in zip(top_a, top_b, strict=True)]
    return {
        "passage_cosine_mean": round(float(passage_cos.mean()), 5),
        "passage_cosine_min": round(float(passage_cos.min()), 5),
        "query_cosine_mean": round(float(query_cos.mean()), 5),
        "query_cosine_min": round(float(query_cos.min()), 5),
        "max_abs_diff": float(max(np.abs(passages_a - passages_b).max(), np.abs(queries_a - queries_b).max())),
        f"top{k}_agreement": round(float(np.mean(agreement)), 4),
        "top1_agreement": round(float(np.mean(top_a[:, 0] == top_b[:, 0])), 4),
    }


def bench_embedding(
    settings: EmbeddingSettings,
    cache_dir: Path,
    *,
    texts: int = 1000,
    corpus: Path | None = None,
    queries: int = 200,
    chunk: int = 200,
    cold_runs: int = 3,
    torch_batch1: bool = True,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Embed the same passages with every backend in one process and return the figures.

    ``torch_batch1`` adds torch with one passage per call to the throughput comparison: the ONNX
    embedder batches by a token budget (one 256-token passage per call), and this row shows how much of
    its lead is that batching, which torch would get too, rather than the runtime."""
    say = progress or (lambda message: None)
    passages = corpus_passages(corpus, texts) if corpus else demo_passages(texts)
    questions = load_queries(corpus, queries)
    if not passages or not questions:
        raise ValueError("no passages or no queries to benchmark")
    load_before = os.getloadavg()
    say(f"{len(passages)} passages, {len(questions)} queries; loading the three backends")
    embedders: dict[str, Embedder] = {}
    load_seconds = {}
    for name in ("onnx", "onnx-int8", "torch"):  # ONNX first: exporting (once) happens before timing
        began = time.perf_counter()
        embedders[name] = load_embedder(replace(settings, backend=name), cache_dir)
        load_seconds[name] = round(time.perf_counter() - began, 2)
    embedders = {name: embedders[name] for name in BACKENDS}
    timed = dict(embedders)
    if torch_batch1:
        timed[TORCH_BATCH1] = load_embedder(replace(settings, backend="torch", batch_size=1), cache_dir)
    onnx = embedders["onnx"]
    tokenizer = getattr(onnx, "tokenizer", None)
    token_counts = np.asarray([len(e.ids) for e in tokenizer.encode_batch(passages)]) if tokenizer else None

    throughput, vectors = _throughput(timed, passages, chunk, say)
    del timed
    say("single-query latency")
    latency = _latency(embedders, questions, queries)
    say("quality")
    unique = list(dict.fromkeys(questions))
    query_vectors = {name: e.embed_passages(unique) for name, e in embedders.items()}
    quality = {
        "int8_vs_fp32": _compare(vectors["onnx-int8"], vectors["onnx"], query_vectors["onnx-int8"],
                                 query_vectors["onnx"]),
        "fp32_vs_torch": _compare(vectors["onnx"], vectors["torch"], query_vectors["onnx"], query_vectors["torch"]),
        "int8_vs_torch": _compare(vectors["onnx-int8"], vectors["torch"], query_vectors["onnx-int8"],
                                  query_vectors["torch"]),
    }
    peak_rss = round(_peak_rss_mib(), 1)
    import torch  # already imported by the torch backend

    threads = {"torch": torch.get_num_threads(), "onnx": getattr(onnx, "threads", None)}
    del embedders, onnx
    cold = _cold_start(settings, cache_dir, cold_runs, say) if cold_runs > 0 else {}
    return {
        "corpus": str(corpus) if corpus else "kb/demo/content (170-word windows)",
        "passages": len(passages),
        "queries_for_latency": queries,
        "unique_queries_for_quality": len(unique),
        "tokens_per_passage_mean": round(float(token_counts.mean()), 1) if token_counts is not None else None,
        "passages_truncated_share": (
            round(float((token_counts >= settings.max_seq_length).mean()), 3) if token_counts is not None else None
        ),
        "chunk": chunk,
        "threads": threads,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "load_seconds": load_seconds,
        "throughput": throughput,
        "query_latency": latency,
        "cold_start": cold,
        "peak_rss_mib_bench_process": peak_rss,
        "quality": quality,
        "int8_meets_1_4x": throughput["onnx-int8"]["ratio_to_torch"] >= 1.4,
    }

