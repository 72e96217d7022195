"""`kb bench embedding`: torch vs ONNX fp32 vs ONNX int8 passage throughput, latency, cold start, quality."""

from __future__ import annotations

import click

from kb.cli.base import Context, emit_json, pass_ctx
from kb.cli.bench import bench


@bench.command("embedding")
@click.option("--texts", default=1000, show_default=True, help="Passages embedded by every backend.")
@click.option("--corpus", type=click.Path(exists=True, dir_okay=False),
              help="A BEIR corpus.jsonl (title + text; its queries.jsonl gives the queries). "
                   "Default: the demo site's pages in 170-word passages and its sales questions.")
@click.option("--queries", default=200, show_default=True, help="Single-query latency samples per backend.")
@click.option("--chunk", default=200, show_default=True, help="Passages per interleaved timing chunk.")
@click.option("--cold-runs", default=3, show_default=True, help="Fresh processes per backend for cold start.")
@click.option("--threads", type=int, default=None,
              help="Threads for every backend in this run (default: embedding.threads).")
@click.option("--torch-batch1/--no-torch-batch1", default=True, show_default=True,
              help="Also time torch with one passage per call (what the ONNX token budget does).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def bench_embedding_command(ctx: Context, texts: int, corpus: str | None, queries: int, chunk: int,
                            cold_runs: int, threads: int | None, torch_batch1: bool, as_json: bool) -> None:
    """Embed the same passages with torch, ONNX fp32 and ONNX int8 in one run and compare them."""
    from dataclasses import replace
    from pathlib import Path

    from kb.bench_embedding import bench_embedding

    if texts < 1 or queries < 1 or chunk < 1 or cold_runs < 0 or (threads is not None and threads < 1):
        raise click.BadParameter("--texts, --queries, --chunk and --threads must be positive, --cold-runs not negative")
    settings = ctx.settings.embedding if threads is None else replace(ctx.settings.embedding, threads=threads)
    result = bench_embedding(
        settings,
        ctx.settings.instance_dir / "models",
        texts=texts,
        corpus=Path(corpus) if corpus else None,
        queries=queries,
        chunk=chunk,
        cold_runs=cold_runs,
        torch_batch1=torch_batch1,
        progress=lambda message: click.echo(message, err=True),
    )
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['passages']} passages from {result['corpus']} "
               f"({result['tokens_per_passage_mean']} tokens on average, "
               f"{result['passages_truncated_share']:.0%} truncated); threads {result['threads']}; "
               f"load average {result['load_average_before']} -> {result['load_average_after']}")
    cold = result["cold_start"]
    for name, figures in result["throughput"].items():
        line = (f"{name:>12}: {figures['passages_per_second']:7.2f} passages/s "
                f"({figures['ratio_to_torch']:.2f}x torch, median chunk {figures['median_chunk_ratio_to_torch']:.2f}x)")
        if name in result["query_latency"]:
            latency = result["query_latency"][name]
            line += f"; query p50 {latency['p50_ms']} ms p99 {latency['p99_ms']} ms"
        if name in cold:
            line += (f"; cold start {cold[name]['wall_s']} s, peak RSS {cold[name]['peak_rss_mib']:.0f} MiB, "
                     f"heavy imports: {', '.join(cold[name]['heavy_modules']) or 'none'}")
        click.echo(line)
    for pair, q in result["quality"].items():
        click.echo(f"{pair}: passage cosine mean {q['passage_cosine_mean']} min {q['passage_cosine_min']}, "
                   f"query cosine mean {q['query_cosine_mean']}, top-10 agreement {q['top10_agreement']}, "
                   f"top-1 {q['top1_agreement']}, max abs diff {q['max_abs_diff']:.1e}")
    click.echo(f"bench process peak RSS {result['peak_rss_mib_bench_process']} MiB (all three backends loaded)")
