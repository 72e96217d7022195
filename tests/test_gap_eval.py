"""`kb eval gaps`: the labelling (seeded halves, held-out answers), the decision metrics by hand, the
command on the tiny BEIR set, and the shipped calibration being a fitted model."""

from __future__ import annotations

import json
import shutil
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.beir import BeirDataset
from ingest.beir_corpus import judged_queries, open_corpus
from ingest.decision_metrics import (
    always_gap,
    balanced_threshold,
    best_gap_threshold,
    candidate_thresholds,
    f1_interval,
    gap_decision,
)
from ingest.gap_labels import gap_half, label_both_halves, label_queries, restricted_retrievers
from kb.cli import cli
from kb.confidence import FEATURES, MODEL_FEATURES, ConfidenceModel, idf, idf_coverage, search_features
from kb.settings import load_settings

TINY = Path(__file__).parent / "fixtures" / "beir-tiny"


# -- decision metrics by hand ----------------------------------------------------------------------
def test_gap_decision_counts_gap_as_the_positive_class():
    scores = [0.1, 0.2, 0.6, 0.7, 0.9]
    gaps = [True, False, True, False, False]
    m = gap_decision(scores, gaps, threshold=0.5)  # predicted gaps: 0.1 (a gap), 0.2 (not)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 2)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)
    # at the threshold itself the question counts as answered, as kb.thresholds.decide does
    assert gap_decision([0.5], [True], 0.5)["tp"] == 0
    # nothing predicted, nothing to find: F1 0, not a division by zero
    assert gap_decision([0.9], [False], 0.5)["f1"] == 0.0


def test_always_gap_baseline():
    m = always_gap([True, True, False, False, False])
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(0.4)
    assert m["f1"] == pytest.approx(2 * 0.4 / 1.4)


def test_best_gap_threshold_maximises_f1():
    scores = [0.1, 0.3, 0.35, 0.8, 0.9]
    gaps = [True, True, False, False, False]
    # every distinct decision: nothing a gap, midpoints, everything a gap
    assert list(candidate_thresholds(scores))[:5] == pytest.approx([0.1, 0.2, 0.325, 0.575, 0.85])
    assert candidate_thresholds(scores)[-1] > 0.9
    t = best_gap_threshold(scores, gaps)
    assert t == pytest.approx(0.325)  # exactly the two gaps below it: F1 1
    assert gap_decision(scores, gaps, t)["f1"] == 1.0
    assert best_gap_threshold([0.2, 0.4], [True, True]) > 0.4  # all gaps: everything below the threshold
    assert best_gap_threshold([0.3, 0.3], [False, True]) > 0.3  # equal scores cannot be split: all gaps (F1 2/3)


def test_best_gap_threshold_tie_goes_to_the_lowest_threshold():
    # "0.1 is a gap" (P 1, R 1/2) and "everything is a gap" (P 1/2, R 1) both score F1 2/3
    scores, gaps = [0.1, 0.5, 0.6, 0.9], [True, False, False, True]
    assert gap_decision(scores, gaps, 0.3)["f1"] == pytest.approx(2 / 3)
    assert gap_decision(scores, gaps, 1.0)["f1"] == pytest.approx(2 / 3)
    assert best_gap_threshold(scores, gaps) == pytest.approx(0.3)


def test_balanced_threshold_weighs_the_answered_questions_too():
    scores = [0.1, 0.2, 0.6, 0.7, 0.8, 0.9]
    gaps = [True, True, True, False, True, False]
    # gap F1 alone prefers calling all but the top score gaps (F1 8/9, answered F1 2/3) ...
    assert best_gap_threshold(scores, gaps) == pytest.approx(0.85)
    # ... the mean of both F1s prefers the split below 0.7 (gap F1 6/7, answered F1 4/5: mean 0.83 > 0.78)
    assert balanced_threshold(scores, gaps) == pytest.approx(0.65)
    assert balanced_threshold([0.1, 0.5, 0.6, 0.9], [True, False, False, True]) == pytest.approx(0.3)  # tie: lowest


def test_f1_interval_brackets_the_point_estimate():
    scores = [i / 100 for i in range(100)]
    gaps = [s < 0.4 or s > 0.9 for s in scores]
    point = gap_decision(scores, gaps, 0.5)["f1"]
    low, high = f1_interval(scores, gaps, 0.5, seed=1)
    assert 0.0 <= low < point < high <= 1.0
    assert f1_interval(scores, gaps, 0.5, seed=1) == (low, high)  # seeded: the same interval every run


# -- labelling -------------------------------------------------------------------------------------
def test_gap_half_is_seeded_and_half():
    ids = [f"q{i}" for i in range(11)]
    first = gap_half(ids, 13)
    assert first == gap_half(ids, 13) and first <= set(ids) and len(first) == 5
    assert any(gap_half(ids, seed) != first for seed in range(14, 20))
    assert gap_half([], 13) == set() and gap_half(["q"], 13) == set()  # one query: no gap (half rounded down)


@pytest.fixture
def tiny_with_shared_document(tmp_path):
    """The tiny set plus q8, judged relevant to d3 only, which q2's judgement shares."""
    folder = tmp_path / "beir-shared"
    shutil.copytree(TINY, folder)
    with (folder / "queries.jsonl").open("a") as handle:
        handle.write('{"_id": "q8", "text": "Does the mobile app work in places with no signal?"}\n')
    with (folder / "qrels" / "test.tsv").open("a") as handle:
        handle.write("q8\td3\t1\n")
    return folder


@pytest.fixture
def tiny_corpus(tmp_path, embedder, monkeypatch, tiny_with_shared_document, cli_model):

    settings = load_settings(None, env={}, overrides={"instance_path": str(tmp_path / "unused")})
    dataset = BeirDataset(tiny_with_shared_document)
    with open_corpus(dataset, settings) as corpus:
        yield corpus, dataset


@pytest.mark.slow
def test_label_queries_holds_out_the_gap_queries_documents(tiny_corpus):
    corpus, dataset = tiny_corpus
    queries, qrels = judged_queries(dataset, "test")
    labelled = label_queries(corpus, queries, qrels, {"q2", "q4"})
    by_id = {o.query_id: o for o in labelled.observations}
    assert set(by_id) == {"q1", "q2", "q3", "q4", "q5", "q6", "q8"}
    # q8's only relevant document (d3) is also q2's: held out for q2, so q8 has no answer left either
    assert {qid for qid, o in by_id.items() if o.gap} == {"q2", "q4", "q8"}
    assert labelled.summary()["extra_gaps"] == 1 and labelled.held_out_documents == 3  # d3, d2, d7
    assert labelled.summary()["gaps"] == 3 and labelled.summary()["answerable"] == 4
    content_of = corpus.content_of()
    absent = {content_of[doc] for doc in ("d2", "d3", "d7")}
    from ingest.gap_labels import search_without

    excluded = [pid for cid in absent for pid in corpus.passages_of[cid]]
    for qid, text in queries:
        hits = search_without(corpus.kb, text, excluded).hits
        assert hits and not {hit.content_id for hit in hits} & absent
    for o in labelled.observations:
        assert set(o.features) == set(FEATURES) and 0.0 <= o.confidence <= 1.0
        assert not (o.gap and o.top1_relevant)  # a gap's relevant documents are nowhere to be found
    assert by_id["q3"].top1_relevant and by_id["q5"].top1_relevant  # answerable, and found first

    # the restricted keyword index counts terms in what is left: "basements" is only in d3, held out here
    keyword = restricted_retrievers(corpus.kb, excluded).keyword
    whole = corpus.kb.indexes()[1]
    assert whole.document_frequencies(["basement"]) == {"basement": 1}
    assert keyword.document_frequencies(["basement", "sso"]) == {"basement": 0, **whole.document_frequencies(["sso"])}
    assert keyword.count == whole.count - len(excluded)

    both = label_both_halves(corpus, queries, qrels, seed=13)
    assert len(both.observations) == 2 * len(queries)
    first = gap_half([qid for qid, _ in queries], 13)
    assert both.held_out_queries == len(queries)  # each query made a gap exactly once
    assert {o.query_id for o in both.observations[:len(queries)] if o.gap} >= first


# -- the command -----------------------------------------------------------------------------------
@pytest.fixture
def run_kb(tmp_path, embedder, monkeypatch, cli_model):
    """Invoke `kb` with a config in tmp_path and the session's model instead of loading another."""

    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n')

    def run(*args, code=0):
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == code, result.output
        return result

    return run


@pytest.mark.slow
def test_eval_gaps_on_the_tiny_set(run_kb, tmp_path, tiny_with_shared_document):
    report = json.loads(run_kb("eval", "gaps", str(TINY), "--workdir", str(tmp_path / "work"), "--json").stdout)
    assert report["labels"]["test"]["queries"] == 6 and report["labels"]["test"]["gaps"] == 3
    assert report["fit_split"] is None and "optimistic" in report["thresholds_chosen_on"]  # no train split
    assert set(report["model"]) == {"shipped", "best"}
    shipped = ConfidenceModel.load(None)
    assert report["model"]["shipped"]["threshold"] == pytest.approx(shipped.threshold, abs=1e-4)
    assert report["baselines"]["always_gap"]["recall"] == 1.0
    assert report["baselines"]["always_gap"]["precision"] == pytest.approx(0.5)
    assert set(report["baselines"]["dense_top"]) == {"shipped", "best"}
    for decision in [*report["model"].values(), *report["baselines"]["dense_top"].values()]:
        assert 0.0 <= decision["precision"] <= 1.0 and 0.0 <= decision["recall"] <= 1.0
        low, high = decision["f1_ci95"]
        assert low <= decision["f1"] <= high
        assert decision["tp"] + decision["fn"] == 3  # the gaps
    # the best threshold on the scored queries is at least as good as any other threshold there
    assert report["model"]["best"]["f1"] >= report["model"]["shipped"]["f1"]

    # with a fitting split (here: the same judgements under another name) thresholds are chosen on it
    shutil.copy(tiny_with_shared_document / "qrels" / "test.tsv", tiny_with_shared_document / "qrels" / "train.tsv")
    text = run_kb("eval", "gaps", str(tiny_with_shared_document), "--seed", "3").stdout
    assert "thresholds chosen on the train split" in text
    assert "model, fit_split" in text and "top dense cosine, fit_split" in text and "always gap" in text


def test_eval_gaps_refuses_a_missing_split(run_kb):
    result = run_kb("eval", "gaps", str(TINY), "--split", "dev", code=2)
    assert "no judgements for split 'dev'" in result.output and "Traceback" not in result.output


# -- the shipped model -----------------------------------------------------------------------------
def test_shipped_calibration_is_a_fitted_model():
    data = json.loads((files("kb") / "calibration.json").read_text())
    model = ConfidenceModel(**data)
    assert "kb eval calibrate" in model.source and "scifact" in model.source and "--split train" in model.source
    assert "placeholder" not in model.source
    assert 0.0 < model.threshold < 1.0
    assert set(model.weights) == set(FEATURES)
    assert {name for name, weight in model.weights.items() if weight} == set(MODEL_FEATURES)  # others at 0
    assert model.weights["dense_lead"] > 0 and model.weights["idf_coverage"] > 0
    assert {"f1_gap", "precision_gap", "recall_gap", "dense_top_threshold", "log_loss"} <= set(model.metrics)
    assert model.metrics["f1_gap"] > 0.78  # held-out SciFact test gap F1 recorded by the fit
    assert "mean of the gap and answered F1s" in model.source


def test_search_features_lead_over_the_fourth_item_and_idf_coverage():
    # Several pages answering at once (0.80, 0.78, 0.77) leave the runner-up margin tiny; the lead over the
    # fourth item (0.40) still shows the answer standing out.
    features = search_features(dense_scores=[0.80, 0.78, 0.77, 0.40, 0.35], keyword_top=5.0, term_coverage=0.5,
                               idf_coverage=0.9, dense_first_content=1, keyword_first_content=2, fused_rank_dense=1)
    assert features["dense_lead"] == pytest.approx(0.40) and features["dense_margin"] == pytest.approx(0.02)
    assert features["idf_coverage"] == 0.9 and features["agreement"] == 0.0 and set(features) == set(FEATURES)
    assert search_features(dense_scores=[0.5, 0.4], keyword_top=0, term_coverage=0.25, dense_first_content=None,
                           keyword_first_content=None, fused_rank_dense=None)["idf_coverage"] == 0.25  # no statistics
    # a term no passage holds weighs the most: missing it from the best hit costs more than a common word
    assert idf(0, 100) > idf(1, 100) > idf(50, 100) > 0
    frequencies = {"okta": 3, "support": 60}
    assert idf_coverage({"okta", "support"}, {"okta"}, frequencies, 100) > 0.5 > idf_coverage(
        {"okta", "support"}, {"support"}, frequencies, 100)
    assert idf_coverage({"hipaa", "support"}, {"support"}, frequencies, 100) < 0.3  # "hipaa": nowhere at all
    assert idf_coverage(set(), set(), frequencies, 100) == 0.0
