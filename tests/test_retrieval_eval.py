"""`kb eval retrieval` / `kb eval calibrate`: the metrics by hand, and the commands on a tiny BEIR set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.beir import BeirDataset
from ingest.beir_corpus import doc_id_of, doc_url
from ingest.decision_metrics import best_gap_threshold, binary_metrics
from ingest.retrieval_eval import mrr_at_k, ndcg_at_k, recall_at_k
from kb.cli import cli
from kb.confidence import FEATURES
from kb.settings import Settings

TINY = Path(__file__).parent / "fixtures" / "beir-tiny"


# -- metrics -------------------------------------------------------------------------------------
def test_ndcg_uses_graded_gains_and_the_ideal_from_the_qrels():
    judged = {"a": 2, "b": 1, "c": 0}
    assert ndcg_at_k(["a", "b", "x"], judged) == pytest.approx(1.0)
    # b (gain 1) at rank 1, a (gain 2) at rank 3: DCG = 1 + 2/log2(4) = 2; IDCG = 2 + 1/log2(3)
    assert ndcg_at_k(["b", "x", "a"], judged) == pytest.approx(2 / (2 + 1 / math.log2(3)))
    # a relevant document outside the cut-off counts nowhere; the ideal still holds both
    assert ndcg_at_k(["x", "a", "b"], judged, k=2) == pytest.approx((2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    # a judged-irrelevant (score 0) document gains nothing
    assert ndcg_at_k(["c"], judged) == 0.0


def test_recall_and_mrr():
    judged = {"a": 1, "b": 2, "c": 0}
    assert recall_at_k(["x", "a", "c"], judged, 10) == pytest.approx(0.5)
    assert recall_at_k(["x", "a", "b"], judged, 2) == pytest.approx(0.5)
    assert recall_at_k(["b", "a"], judged, 100) == 1.0
    assert mrr_at_k(["c", "x", "b"], judged) == pytest.approx(1 / 3)  # c has score 0: not relevant
    assert mrr_at_k(["x"] * 10 + ["a"], judged) == 0.0  # first relevant at rank 11: outside MRR@10


def test_metrics_of_empty_results_and_empty_judgements():
    assert ndcg_at_k([], {"a": 1}) == 0.0
    assert recall_at_k([], {"a": 1}, 10) == 0.0
    assert mrr_at_k([], {"a": 1}) == 0.0
    assert ndcg_at_k(["a"], {}) == 0.0
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0


def test_calibration_metrics_and_threshold():
    probs, labels = [0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]
    m = binary_metrics(probs, labels, threshold=0.5)
    assert m["accuracy"] == 1.0 and m["f1_answered"] == 1.0 and m["f1_gap"] == 1.0
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.09 + 0.01) / 4)
    assert m["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.7) + math.log(0.9)) / 4)
    # ECE: bins [0.9,1) 0.9 vs 1, [0.8,0.9) 0.8 vs 1, [0.3,0.4) 0.3 vs 0, [0.1,0.2) 0.1 vs 0
    assert m["ece"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.1) / 4)
    assert 0.3 < best_gap_threshold(probs, [label == 0 for label in labels]) < 0.8


def test_beir_reading_skips_header_and_crlf(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text('{"_id": "1", "title": "T", "text": "x"}\n')
    (tmp_path / "queries.jsonl").write_text('{"_id": "q", "text": "y"}\n')
    (tmp_path / "qrels" / "test.tsv").write_bytes(b"query-id\tcorpus-id\tscore\r\nq\t1\t2\r\nq\t2\t0\r\n")
    dataset = BeirDataset(tmp_path)
    assert dataset.qrels("test") == {"q": {"1": 2, "2": 0}}
    assert [d.doc_id for d in dataset.corpus()] == ["1"]
    assert doc_id_of(doc_url("my set", "a/b c")) == "a/b c"


# -- the commands ----------------------------------------------------------------------------------
@pytest.fixture
def run_kb(tmp_path, embedder, monkeypatch, cli_model):
    """Invoke `kb` with a config in tmp_path and the session's model instead of loading another."""

    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n')

    def run(*args):
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


@pytest.mark.slow
def test_eval_retrieval_all_modes_and_workdir_reuse(run_kb, tmp_path):
    workdir = tmp_path / "work"
    first = run_kb("eval", "retrieval", str(TINY), "--mode", "all", "--workdir", str(workdir), "--json")
    assert first["ingested"] is True and first["timing"]["ingested"] is True
    assert (first["queries"], first["documents"], first["passages"]) == (6, 12, 12)  # q7 has no judgement
    assert set(first["modes"]) == {"dense", "bm25", "hybrid"}
    for metrics in first["modes"].values():
        assert set(metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert first["modes"]["hybrid"]["ndcg@10"] > 0.8
    # the paraphrase query shares no word with its answer: BM25 cannot reach it, dense and hybrid do
    assert first["modes"]["bm25"]["recall@100"] < 1.0 == first["modes"]["hybrid"]["recall@100"]
    assert first["timing"]["ingest_seconds"] > 0 and first["timing"]["embedding_passages_per_second"] > 0
    assert set(first["timing"]["query_ms"]["hybrid"]) == {"mean", "p50", "p95"}
    assert first["settings"]["fusion"] == Settings().search.fusion and first["settings"]["model"]

    # same corpus, same chunking, same model: nothing is ingested again; a fusion override applies
    second = run_kb("eval", "retrieval", str(TINY), "--mode", "hybrid", "--workdir", str(workdir),
                    "--fusion", "weighted", "--dense-weight", "0.7", "--limit-queries", "2", "--json")
    assert second["ingested"] is False and "ingest_seconds" not in second["timing"]
    assert set(second["modes"]) == {"hybrid"}
    assert (second["settings"]["fusion"], second["settings"]["dense_weight"]) == ("weighted", 0.7)
    assert (second["passages"], second["queries"]) == (first["passages"], 2)


@pytest.mark.slow
def test_eval_calibrate_writes_a_model(run_kb, tmp_path):
    out = tmp_path / "calibration.json"
    report = run_kb("eval", "calibrate", str(TINY), "--out", str(out), "--json")
    assert report["fit_split"] == "test" and "50/50" in report["protocol"]  # the tiny set has no train split
    assert report["fit"]["queries"] + report["held_out"]["queries"] == 6
    assert report["held_out"]["gaps"] >= 1
    saved = json.loads(out.read_text())
    assert set(saved["weights"]) == set(FEATURES)
    assert 0.0 < saved["threshold"] < 1.0
    assert "kb eval calibrate" in saved["source"] and "beir-tiny" in saved["source"]
    assert {"log_loss", "brier", "ece", "accuracy"} <= set(saved["metrics"])
