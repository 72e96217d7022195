"""Question de-duplication: the pair features, the one-vs-many scorer with the real model, the shipped
model, the evaluation helpers and `kb eval duplicates` on a tiny TSV set."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.confidence import FEATURES as CONFIDENCE_FEATURES
from kb.confidence import fit_logistic
from kb.duplicates import (
    FALLBACK_FEATURES,
    FEATURES,
    DuplicateModel,
    TermRarity,
    analyse_question,
    pair_features,
)
from kb.duplicates_eval import best_f1_threshold, classification_metrics, detokenize, read_pairs

TINY = Path(__file__).parent / "fixtures" / "duplicates"


def features(a: str, b: str, cosine: float = 0.5) -> dict[str, float]:
    return pair_features(analyse_question(a), analyse_question(b), cosine)


# -- features --------------------------------------------------------------------------------------
def test_identical_questions():
    f = features("How long does implementation take?", "How long does implementation take?", 1.0)
    assert set(f) == set(FEATURES)
    assert f["jaccard"] == 1.0 and f["missing_max"] == 0.0 and f["missing_min"] == 0.0
    assert f["number_mismatch"] == 0.0 and f["negation_mismatch"] == 0.0 and f["no_terms"] == 0.0
    assert f["lead_match"] == 1.0 and f["length_ratio"] == 1.0
    assert f["cosine"] == 1.0 and f["cosine_sq"] == 1.0


def test_disjoint_questions():
    f = features("Do you support SAML?", "What about invoices in euros?", 0.1)
    assert f["jaccard"] == 0.0 and f["missing_max"] == 1.0 and f["missing_min"] == 1.0
    assert f["lead_match"] == 0.0  # "do" (yes/no) vs "what"
    assert f["cosine_sq"] == pytest.approx(0.01)


def test_one_side_adds_a_qualifier():
    f = features("Do you support SSO?", "Do you support SSO with Okta?")
    assert f["missing_min"] == 0.0 and f["missing_max"] == pytest.approx(1 / 3)
    assert f["jaccard"] == pytest.approx(2 / 3) and f["length_ratio"] == pytest.approx(2 / 3)


def test_without_a_rarity_table_the_idf_features_equal_their_twins():
    f = features("Do you support SSO with Okta?", "Do you support SCIM provisioning with Okta?")
    assert f["idf_jaccard"] == pytest.approx(f["jaccard"])
    assert (f["idf_missing_max"], f["idf_missing_min"]) == pytest.approx((f["missing_max"], f["missing_min"]))
    assert f["rare_unshared"] == 1.0


def test_rarity_table_weighs_rare_terms_and_treats_unseen_as_rarest():
    seen = [analyse_question(q) for q in ("learn python", "learn java", "learn cooking", "best way to learn")]
    rarity = TermRarity.from_questions(seen, min_frequency=2)
    assert set(rarity.idf) == {"learn"}  # in all 4; the rest are in one question only
    assert rarity("learn") == pytest.approx(math.log(5 / 5) + 1, abs=1e-4)  # stored rounded to 4 places
    assert rarity("python") == rarity.default == pytest.approx(math.log(5 / 2) + 1, abs=1e-4)
    a, b, c = (analyse_question(q) for q in ("How do I learn Python?", "How do I learn Java?", "Python learning?"))
    swapped = pair_features(a, b, 0.8, rarity)
    assert swapped["rare_unshared"] == 1.0  # the one-sided terms are the rarest there are
    assert swapped["idf_jaccard"] < swapped["jaccard"]  # the shared term is the common one
    assert pair_features(a, c, 0.8, rarity)["rare_unshared"] == 0.0  # nothing one-sided


def test_numbers_and_years_that_differ():
    assert features("Do you have a SOC 2 report for 2024?", "Do you have a SOC 2 report for 2025?")["number_mismatch"] == 1.0
    assert features("Is there a SOC 2 report?", "Do you have a SOC2 report?")["number_mismatch"] == 0.0
    assert features("Pricing for 10 seats?", "Pricing for seats?")["number_mismatch"] == 1.0


def test_negation_and_question_word():
    assert features("Does it support SAML?", "Doesn't it support SAML?")["negation_mismatch"] == 1.0
    assert features("Does it support SAML?", "Does it not support SAML?")["negation_mismatch"] == 1.0
    assert features("How is data stored?", "Why is data stored?")["lead_match"] == 0.0
    assert features("Hi, how is data stored?", "How is data stored?")["lead_match"] == 1.0
    assert features("Can we pay by invoice?", "Do you accept invoices?")["lead_match"] == 1.0  # both yes/no


def test_hostile_and_empty_text():
    hostile = analyse_question("<script>alert('x')</script> DROP TABLE users; --")
    assert "script" in hostile.terms and hostile.count > 0
    empty = analyse_question("Why? How?!")  # nothing left after stopwords
    assert empty.terms == frozenset() and empty.count == 0 and empty.lead == "why"
    for a, b in ((empty, hostile), (empty, empty), (analyse_question(""), hostile)):
        f = pair_features(a, b, 0.3)
        assert f["no_terms"] == 1.0
        assert all(math.isfinite(value) for value in f.values())
        assert 0.0 <= f["jaccard"] <= 1.0 and 0.0 <= f["length_ratio"] <= 1.0


# -- the scorer --------------------------------------------------------------------------------------
QUESTION = "Do you support SSO with Okta?"
STORED = [
    "Can I use Okta for SSO?",  # paraphrases
    "Do you support single sign-on (SSO) with Okta?",
    "Do you support SCIM provisioning with Okta?",  # look-alikes: same frame, another rare term
    "Do you support SSO with Azure AD?",
    "How much does the Enterprise plan cost?",  # unrelated
    "Where is customer data stored?",
]


def test_paraphrases_score_above_look_alikes(embedder):
    model = DuplicateModel.load()
    probs = model.score(QUESTION, embedder.embed_query(QUESTION), STORED, embedder.embed_passages(STORED))
    assert probs.shape == (len(STORED),) and np.all((probs >= 0) & (probs <= 1))
    assert min(probs[:2]) > max(probs[2:])
    assert max(probs[4:]) < min(probs[2:4])  # look-alikes still above unrelated questions
    assert all(model.is_duplicate(p) for p in probs[:2])
    assert not any(model.is_duplicate(p) for p in probs[3:])  # "Azure AD" for "Okta": a rare word swapped
    # an identical question is the best match and a duplicate
    same = model.score(STORED[5], embedder.embed_query(STORED[5]), STORED, embedder.embed_passages(STORED))
    assert int(np.argmax(same)) == 5 and model.is_duplicate(same[5])


@pytest.mark.xfail(strict=True, reason="known limit (kb/duplicates.py docstring): the embedding puts the SCIM "
                   "look-alike above this paraphrase in other words, and on Quora pairs word overlap does not "
                   "count for a duplicate once the cosine is known")
def test_paraphrase_in_other_words_scores_above_look_alike(embedder):
    model = DuplicateModel.load()
    others = ["Can we log in through Okta single sign-on?", "Do you support SCIM provisioning with Okta?"]
    probs = model.score(QUESTION, embedder.embed_query(QUESTION), others, embedder.embed_passages(others))
    assert probs[0] > probs[1]


def test_score_top_n_falls_back_to_cosine_and_accepts_cached_terms(embedder):
    model = DuplicateModel.load()
    question = QUESTION
    vector, others = embedder.embed_query(question), embedder.embed_passages(STORED)
    full = model.score(question, vector, STORED, others, top_n=None)
    cached = model.score(question, vector, STORED, others, other_terms=[analyse_question(t) for t in STORED])
    assert np.allclose(full, cached)  # 6 stored questions < top_n: all get the full model
    nearest_only = model.score(question, vector, STORED, others, top_n=1)
    best = int(np.argmax(others @ vector))
    assert nearest_only[best] == pytest.approx(full[best])
    rest = [i for i in range(len(STORED)) if i != best]
    assert np.allclose(nearest_only[rest], model.cosine_probabilities(others[rest] @ vector))
    assert model.score(question, vector, [], np.zeros((0, vector.shape[0]), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="same length"):
        model.score(question, vector, STORED[:2], others)


def test_score_one_against_ten_thousand_is_fast():
    model = DuplicateModel.load()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10_000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"Do you support integration number {i} with the {i % 97} connector?" for i in range(10_000)]
    model.score("warm up the analyser", vectors[0], texts[:10], vectors[:10])
    started = time.perf_counter()
    probs = model.score(texts[42], vectors[42], texts, vectors)
    elapsed = time.perf_counter() - started
    assert probs.shape == (10_000,) and int(np.argmax(probs)) == 42
    assert elapsed < 1.0, f"{elapsed:.3f} s for one question against 10,000"


# -- the model file ----------------------------------------------------------------------------------
def test_shipped_model_loads():
    model = DuplicateModel.load()
    assert model.features == FEATURES and set(model.weights) == set(FEATURES)
    assert set(model.fallback_weights) == set(FALLBACK_FEATURES)
    assert len(model.idf) > 1000 and all(0 < value <= model.idf_default for value in model.idf.values())
    assert 0.0 < model.threshold < 1.0
    assert "kb eval duplicates" in model.source and "2026-11-23" in model.source
    assert model.metrics["test_f1"] >= 0.82
    assert model.weights["cosine"] + model.weights["cosine_sq"] > 0  # more similar, more likely a duplicate


def test_model_round_trip_and_damaged_file(tmp_path):
    model = DuplicateModel.load()
    path = tmp_path / "dup.json"
    model.save(path)
    assert DuplicateModel.load(path) == model
    path.write_text("{broken")
    assert DuplicateModel.load(path) == model


def test_fit_logistic_takes_feature_names_and_keeps_its_default():
    rows = [{"cosine": x / 100, "jaccard": 0.5} for x in range(100)]
    labels = [1 if x >= 60 else 0 for x in range(100)]
    weights, bias = fit_logistic(rows, labels, features=("cosine", "jaccard"))
    assert set(weights) == {"cosine", "jaccard"}
    model = DuplicateModel(features=("cosine", "jaccard"), weights=weights, bias=bias, threshold=0.5)
    probs = model.probabilities([{"cosine": 0.9, "jaccard": 0.5}, {"cosine": 0.3, "jaccard": 0.5}])
    assert probs[0] > 0.9 > 0.1 > probs[1]
    default_weights, _ = fit_logistic([{"dense_top": 0.1}, {"dense_top": 0.9}], [0, 1])
    assert set(default_weights) == set(CONFIDENCE_FEATURES)


# -- evaluation helpers ------------------------------------------------------------------------------
def test_metrics_and_threshold_by_hand():
    m = classification_metrics(np.array([True, True, False, False]), np.array([1, 0, 1, 0]))
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"]) == (0.5, 0.5, 0.5, 0.5)
    assert classification_metrics(np.array([False, False]), np.array([1, 0]))["f1"] == 0.0
    scores, labels = np.array([0.9, 0.8, 0.7, 0.3, 0.2]), np.array([1, 1, 0, 1, 0])
    # best F1 keeps the top 4 (P 3/4, R 1, F1 6/7) over the top 2 (P 1, R 2/3, F1 4/5)
    assert best_f1_threshold(scores, labels) == pytest.approx(0.25)
    assert best_f1_threshold(np.array([0.5, 0.5, 0.1]), np.array([1, 0, 0])) == pytest.approx(0.3)  # ties stay together
    assert best_f1_threshold(np.array([0.4, 0.6]), np.array([1, 1])) < 0.4


def test_reading_reports_malformed_lines_and_detokenizes():
    read = read_pairs(TINY / "dev.tsv")
    assert len(read.pairs) == 12
    assert read.problems == ["dev.tsv line 9: expected 4 tab-separated fields, got 1"]
    assert read.pairs[0].question1 == "Do you support SSO with Okta?" and read.pairs[0].label == 1
    assert read_pairs(TINY / "test.tsv").problems == ["test.tsv line 7: label must be 0 or 1, got '2'"]
    assert len(read_pairs(TINY / "dev.tsv", limit=3).pairs) == 3
    assert detokenize("Why do n't  we use ``Okta'' ( SSO ) ?") == 'Why don\'t we use "Okta" (SSO)?'
    assert detokenize("United States ' euthanasia laws") == "United States' euthanasia laws"


# -- the command ------------------------------------------------------------------------------------
@pytest.fixture
def run_kb(tmp_path, embedder, monkeypatch):
    """Invoke `kb` with a config in tmp_path and the session's model instead of loading another."""
    import kb.embedding

    monkeypatch.setattr(kb.embedding, "load_embedder", lambda *args, **kwargs: embedder)
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{tmp_path / "instance"}"\n')

    def run(*args):
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return result

    return run


@pytest.mark.slow
def test_eval_duplicates_command(run_kb, tmp_path, embedder):
    out = tmp_path / "dup.json"
    report = json.loads(run_kb("eval", "duplicates", str(TINY), "--out", str(out), "--json").stdout)
    assert report["counts"]["dev"] == {"pairs": 12, "duplicates": 6}
    assert report["counts"]["test"] == {"pairs": 8, "duplicates": 4}
    assert report["counts"]["malformed_lines"] == 2 and len(report["malformed"]) == 2
    assert report["embedding_model"] == embedder.model_name
    for name in ("baseline", "model"):
        for split in ("dev", "test"):
            assert set(report[name][split]) == {"precision", "recall", "f1", "accuracy"}
            assert all(0.0 <= value <= 1.0 for value in report[name][split].values())
    assert report["model"]["features"] == list(FEATURES)
    assert report["seconds"]["embedding"] >= 0 and report["seconds"]["total"] > 0
    saved = DuplicateModel.load(out)
    assert saved.features == FEATURES and "kb eval duplicates" in saved.source and "duplicates" in saved.source
    assert saved.threshold == report["model"]["threshold"] and "test_f1" in saved.metrics

    text = run_kb("eval", "duplicates", str(TINY), "--limit", "4").stdout
    assert "dev 4 pairs, test 4 pairs" in text
    lines = [line for line in text.splitlines() if line.startswith(("baseline", "model"))]
    assert len(lines) == 2 and all("precision" in line and "F1" in line for line in lines)
