"""`kb bench search`: query latency, QPS, index build time and memory on a temporary knowledge base."""

from __future__ import annotations

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.bench import bench


@bench.command("search")
@click.option("--passages", default=100_000, show_default=True, help="Passages in the temporary knowledge base.")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False),
              help="A BEIR corpus.jsonl (title + text). Default: /work/shared/data/beir/scifact/corpus.jsonl.")
@click.option("--queries", type=click.Path(exists=True, dir_okay=False),
              help="A BEIR queries.jsonl (or one query a line). Default: the corpus's queries.jsonl.")
@click.option("--real", type=int, default=None,
              help="Passages embedded by the model [default: min(passages, 3000)]; the rest are synthetic.")
@click.option("--hnsw-threshold", type=int, default=None,
              help="Override search.hnsw_threshold (an HNSW index above this many passages, flat below).")
@click.option("--query-count", default=300, show_default=True, help="Queries timed one by one.")
@click.option("--warmup", default=20, show_default=True, help="Untimed queries first (model and caches warm).")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample and the synthetic variations.")
@click.option("--sqlite-analyze", is_flag=True,
              help="Run SQLite ANALYZE after the build (the query planner then uses the passage ids).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def bench_search_command(ctx: Context, passages: int, corpus: str | None, queries: str | None, real: int | None,
                         hnsw_threshold: int | None, query_count: int, warmup: int, seed: int,
                         sqlite_analyze: bool, as_json: bool) -> None:
    """Fill a temporary knowledge base with real and synthetic passages, build its indexes, time searches."""
    from pathlib import Path

    from ingest.bench_search import bench_search

    if passages < 1 or query_count < 1 or warmup < 0 or (real is not None and real < 1):
        raise click.BadParameter("--passages, --query-count and --real must be positive, --warmup not negative")
    result = bench_search(
        ctx.settings,
        passages=passages,
        corpus=Path(corpus) if corpus else None,
        queries=Path(queries) if queries else None,
        real=real,
        hnsw_threshold=hnsw_threshold,
        query_count=query_count,
        warmup=warmup,
        seed=seed,
        sqlite_analyze=sqlite_analyze,
        progress=lambda message: click.echo(message, err=True),
    )
    if as_json:
        emit_json(result)
        return
    build, latency, rss, parts = result["build"], result["latency_ms"], result["peak_rss_mib"], result["breakdown_ms"]
    rows = [
        ("passages", f"{result['passages']:,} ({result['real_embedded']:,} embedded, "
                     f"{result['synthetic']:,} synthetic) in {result['contents']:,} content items"),
        ("embedder", f"{result['embedder']} ({result['embedder_backend']}, {result['embedder_class']})"),
        ("dense index", f"{result['index_kind']} (hnsw above {result['hnsw_threshold']:,})"),
        ("embedding", f"{build['passages_embedded_per_second']} passages/s "
                      f"(model only {build['model_passages_per_second']}/s)"),
        ("index build", f"{build['refresh_index_s']} s: dense {build['dense_s']} s, keyword {build['keyword_s']} s"
                        + (f"; SQLite ANALYZE {build['sqlite_analyze_s']} s" if result["sqlite_analyze"] else "")),
        ("latency ms", f"p50 {latency['p50']}  p95 {latency['p95']}  p99 {latency['p99']}  mean {latency['mean']} "
                       f"over {result['queries']} queries"),
        ("queries/s", f"{result['qps']} (sequential)"),
        ("breakdown p50 ms", "  ".join(f"{name} {parts[name]['p50']}"
                                       for name in ("embed_query", "dense", "keyword", "rest") if name in parts)),
        ("stages p50 ms", "  ".join(f"{name} {figures['p50']}" for name, figures in result["stages_ms"].items())),
        ("peak RSS MiB", f"before build {rss['before_build']}, after build {rss['after_build']}, "
                         f"after queries {rss['after_queries']}"),
    ]
    recall = [key for key in result if key.startswith("hnsw_recall@")]
    if recall:
        rows.append(("HNSW recall", "  ".join(f"{key.split('_')[-1]} {result[key]}" for key in recall)))
    rows.append(("load average", f"{result['load_average_before']} -> {result['load_average_after']}"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name:<{width}}  {value}")
