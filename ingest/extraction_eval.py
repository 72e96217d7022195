"""Scorer for the Zyte (Scrapinghub) article-body extraction benchmark.

Why: main-text quality decides what gets embedded and searched, so we measure our
extractor against third-party ground truth instead of eyeballing a few pages.

The arithmetic mirrors upstream ``evaluate.py`` of scrapinghub/article-extraction-benchmark:

* tokens are ``\\w+`` matches (Unicode, case kept); shingles are token 4-grams counted as a
  multiset. A text with 1..3 tokens yields a single shorter shingle (upstream quirk, kept).
* per page, TP/FP/FN are counted over shingles and then normalised by their sum so that long
  articles do not weigh more (this does not change the page's precision or recall);
* per-page precision = TP / (TP + FP) and recall = TP / (TP + FN), 1.0 for both when nothing
  differs (FP == FN == 0);
* the mean precision is taken over pages whose prediction has shingles (TP + FP > 0) and the mean
  recall over pages whose truth has shingles (TP + FN > 0) -- so an empty prediction costs
  recall (0 for that page) but is *not* averaged into precision, exactly as upstream does;
* F1 is the harmonic mean of the two means (macro), not a mean of per-page F1s.

"accuracy" (share of pages whose whole token sequence equals the truth) is described in the
benchmark README; it is reported as an extra, stricter number.

Run on the real data (181 pages; about 8 s for ours and 5 s for the baseline on a 2-core box)::

    .venv/bin/python -m ingest.extraction_eval /work/shared/data/article-extraction --baseline
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

Extractor = Callable[[str, str], str]

_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
NGRAM_N = 4


def tokenize(text: str | None) -> list[str]:
    """Benchmark tokens: every run of word characters, case kept."""
    return _TOKEN_RE.findall(text or "")


def shingles(text: str | None, n: int = NGRAM_N) -> Counter[tuple[str, ...]]:
    """Token n-grams as a multiset; a short non-empty text gives one shorter shingle."""
    tokens = tokenize(text)
    result: Counter[tuple[str, ...]] = Counter()
    for i in range(max(1, len(tokens) - n + 1)):
        shingle = tuple(tokens[i : i + n])
        if shingle:
            result[shingle] += 1
    return result


def shingle_counts(true: str, pred: str) -> tuple[float, float, float]:
    """Normalised (TP, FP, FN) of the predicted text's shingles against the true text's."""
    true_sh, pred_sh = shingles(true), shingles(pred)
    tp = float(sum((true_sh & pred_sh).values()))
    fp = float(sum(pred_sh.values())) - tp
    fn = float(sum(true_sh.values())) - tp
    total = tp + fp + fn
    if total > 0:
        return tp / total, fp / total, fn / total
    return 0.0, 0.0, 0.0


def precision_score(tp: float, fp: float, fn: float) -> float:
    """Per-page precision with upstream's conventions for degenerate pages."""
    if fp == fn == 0:
        return 1.0
    if tp == fp == 0:
        return 0.0
    return tp / (tp + fp)


def recall_score(tp: float, fp: float, fn: float) -> float:
    """Per-page recall with upstream's conventions for degenerate pages."""
    if fp == fn == 0:
        return 1.0
    if tp == fn == 0:
        return 0.0
    return tp / (tp + fn)


def aggregate(counts: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Macro (mean precision, mean recall, F1 of the two means) over pages."""
    precisions = [precision_score(*c) for c in counts if c[0] + c[1] > 0]
    recalls = [recall_score(*c) for c in counts if c[0] + c[2] > 0]
    precision = statistics.fmean(precisions) if precisions else 0.0
    recall = statistics.fmean(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def our_extractor(html: str, url: str) -> str:
    """The default: main text from ``ingest.extract.extract_page`` (ExtractionError propagates)."""
    # Imported lazily so the scorer itself stays importable without the extraction stack.
    from ingest.extract import extract_page

    return extract_page(html, url).text


def trafilatura_baseline(html: str, url: str) -> str:
    """The reference: plain ``trafilatura.extract`` with its defaults."""
    import trafilatura

    return trafilatura.extract(html, url=url) or ""


def evaluate_extraction(data_dir: Path, *, extractor: Extractor | None = None, limit: int | None = None) -> dict:
    """Score ``extractor(html, url) -> text`` on the benchmark at ``data_dir``.

    ``data_dir`` holds ``ground-truth.json`` (item_id -> {"articleBody", "url"}) and
    ``html/<item_id>.html.gz``. Pages are taken in sorted item_id order; ``limit`` keeps the
    first N. Any exception from the extractor (for ours: ExtractionError such as no_content)
    scores as empty output and is listed in "failures" as {"item_id", "error"}; it never aborts
    the run.
    """
    extract = extractor or our_extractor
    data_dir = Path(data_dir)
    truth: dict[str, dict] = json.loads((data_dir / "ground-truth.json").read_text(encoding="utf-8"))
    item_ids = sorted(truth)
    if limit is not None:
        item_ids = item_ids[:limit]

    counts: list[tuple[float, float, float]] = []
    exact = 0
    failures: list[dict[str, str]] = []
    started = time.perf_counter()
    for item_id in item_ids:
        entry = truth[item_id]
        with gzip.open(data_dir / "html" / f"{item_id}.html.gz", "rb") as fh:
            html = fh.read().decode("utf-8")
        try:
            predicted = extract(html, entry.get("url") or "") or ""
        except Exception as exc:  # any extractor error is a scored empty output, not a stop
            predicted = ""
            failures.append({"item_id": item_id, "error": f"{type(exc).__name__}: {exc}"})
        expected = entry.get("articleBody") or ""
        counts.append(shingle_counts(expected, predicted))
        exact += tokenize(expected) == tokenize(predicted)
    seconds = time.perf_counter() - started

    precision, recall, f1 = aggregate(counts)
    pages = len(item_ids)
    return {
        "pages": pages,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "accuracy": round(exact / pages, 4) if pages else 0.0,
        "seconds": round(seconds, 4),
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: print our scores (and optionally trafilatura-alone) as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--baseline", action="store_true", help="also score trafilatura alone")
    args = parser.parse_args(argv)
    results = {"ours": evaluate_extraction(args.data_dir, limit=args.limit)}
    if args.baseline:
        results["trafilatura"] = evaluate_extraction(args.data_dir, extractor=trafilatura_baseline, limit=args.limit)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
