"""Question de-duplication: the pair features, word rarity (Idf), the one-vs-many scorer with the real model,
the shipped model (weights only), the evaluation helpers and `kb eval duplicates` on a tiny TSV set."""

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
    MAX_DOCUMENT_SHARE,
    DuplicateModel,
    Idf,
    analyse_question,
    pair_features,
)
from kb.duplicates_eval import (
    analyse_pairs,
    best_f1_threshold,
    classification_metrics,
    detokenize,
    grouping_metrics,
    read_pairs,
)
from kb.text_terms import tokenize

TINY = Path(__file__).parent / "fixtures" / "duplicates"
SITE = json.loads((TINY / "company_site.json").read_text(encoding="utf-8"))
PASSAGES = [text for page in SITE["pages"] for text in page["passages"]]


def company_idf() -> Idf:
    """Word rarity as the product has it on the small company site of the fixtures before any question is
    stored (kb.topic_matching.deployment_idf): uniform weights, and the site's stopwords."""
    frequencies: dict[str, int] = {}
    for passage in PASSAGES:
        for term in set(tokenize(passage)):
            frequencies[term] = frequencies.get(term, 0) + 1
    return Idf.uniform(stopwords=Idf.from_counts(frequencies, len(PASSAGES), max_share=MAX_DOCUMENT_SHARE))


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


def test_uniform_word_rarity_makes_the_idf_features_equal_their_twins():
    f = features("Do you support SSO with Okta?", "Do you support SCIM provisioning with Okta?")
    assert f["idf_jaccard"] == pytest.approx(f["jaccard"])
    assert (f["idf_missing_max"], f["idf_missing_min"]) == pytest.approx((f["missing_max"], f["missing_min"]))
    assert f["rare_unshared"] == 1.0


def test_idf_weighs_rare_terms_and_treats_unseen_as_rarest():
    idf = Idf.from_counts({"learn": 60, "python": 20, "java": 2}, 1000)
    assert idf.documents == 1000 and not idf.is_uniform
    assert idf("learn") == pytest.approx(math.log(1001 / 61))
    assert idf("python") == pytest.approx(math.log(1001 / 21))
    assert idf("java") == idf("never-seen") == idf.default == pytest.approx(math.log(1001 / 3))  # under the floor
    assert idf.common(["learn", "python", "java"]) == frozenset()  # counts name stopwords only with max_share
    a, b, c = (analyse_question(q) for q in ("How do I learn Java?", "How do I learn cooking?", "Java learning?"))
    swapped = pair_features(a, b, 0.8, idf)
    assert swapped["rare_unshared"] == 1.0  # the one-sided terms are the rarest there are
    assert swapped["idf_jaccard"] < swapped["jaccard"] == pytest.approx(1 / 3)  # the shared term is the common one
    assert pair_features(a, c, 0.8, idf)["rare_unshared"] == 0.0  # nothing one-sided
    questions = Idf.from_questions(analyse_question(q) for q in ("learn python", "learn java", "python tips"))
    assert questions.documents == 3 and questions("learn") == questions("python") == questions.default


def test_no_term_weighs_less_than_one_in_a_tenth_of_the_documents():
    big = Idf.from_counts({"fernbrook": 1000, "integr": 200, "okta": 50}, 1000)
    assert big("fernbrook") == big("integr") == pytest.approx(math.log(10))  # the range the model was fitted on
    assert big("okta") == pytest.approx(math.log(1001 / 51))
    small = Idf.from_counts({"integr": 10, "netsuit": 1}, 10)  # too few documents to grade: all alike
    assert small("integr") == small("netsuit") == small.default == pytest.approx(math.log(11 / 3))
    f = pair_features(analyse_question("Do you integrate with NetSuite?"), analyse_question("Do you integrate with SAP?"),
                      0.5, small)
    assert f["idf_jaccard"] == pytest.approx(f["jaccard"])  # no weight of 0 for the word every question has
    assert Idf.from_counts({"fernbrook": 10}, 10, max_share=1.0).common(["fernbrook"]) == frozenset()


def test_stopwords_are_left_out_of_every_lexical_feature():
    content = Idf.from_counts({"fernbrook": 9, "okta": 2}, 10, max_share=0.5)
    assert content.common(["fernbrook", "okta", "unseen"]) == {"fernbrook"}
    assert Idf.from_counts({"fernbrook": 9}, 10).common(["fernbrook"]) == frozenset()  # no max_share: none
    idf = Idf.uniform(stopwords=content)
    assert idf.is_uniform and idf.common(["fernbrook", "okta"]) == {"fernbrook"}
    a, b = analyse_question("Is Fernbrook FedRAMP authorized?"), analyse_question("Are you FedRAMP authorized?")
    f = pair_features(a, b, 0.7, idf)
    assert f["jaccard"] == f["idf_jaccard"] == 1.0 and f["missing_max"] == 0.0 and f["length_ratio"] == 1.0
    assert f["rare_unshared"] == 0.0 and pair_features(a, b, 0.7, Idf.uniform())["rare_unshared"] == 1.0


def test_too_few_documents_give_uniform_weights():
    for idf in (Idf.uniform(), Idf.from_counts({"okta": 1}, 2, max_share=0.5), Idf.from_questions([])):
        assert idf.is_uniform and idf.documents == 0
        assert idf("okta") == idf("anything") == idf.default == 1.0 and idf.common(["okta"]) == frozenset()
    f = pair_features(analyse_question("Is there SSO?"), analyse_question("Is there SCIM?"), 0.6, Idf.uniform())
    assert f["rare_unshared"] == 1.0  # the cautious reading: any one-sided word counts as rare


def test_idf_looks_terms_up_once_and_in_batches():
    calls: list[list[str]] = []

    def lookup(terms):  # a real document-frequency source that records what it was asked
        calls.append(sorted(terms))
        return {"okta": 3, "sso": 5}

    idf = Idf(40, lookup)
    idf.prime(["okta", "sso", "scim"])
    assert calls == [["okta", "scim", "sso"]]
    assert idf("okta") == pytest.approx(math.log(41 / 4)) and idf("scim") == idf.default
    idf.prime(["okta", "saml"])
    assert calls[-1] == ["saml"] and len(calls) == 2  # only what it had not seen
    assert "40 passages" in repr(Idf.from_keyword_index(_Index(40)))


class _Index:
    """The two members of a keyword index that Idf reads."""

    def __init__(self, count: int) -> None:
        self.count = count

    def document_frequencies(self, terms):
        return dict.fromkeys(terms, 1)


def test_the_company_name_is_a_common_word_of_its_own_content():
    idf = company_idf()
    a, b = analyse_question("Do you support SSO with Okta?"), analyse_question("Does Fernbrook support SSO with Okta?")
    assert "fernbrook" in idf.common(a.terms | b.terms)
    assert pair_features(a, b, 0.84, idf)["rare_unshared"] == 0.0  # nothing else differs
    assert pair_features(a, b, 0.84, Idf.uniform())["rare_unshared"] == 1.0  # without the content: a rare word


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
    model, idf = DuplicateModel.load(), company_idf()
    probs = model.score(QUESTION, embedder.embed_query(QUESTION), STORED, embedder.embed_passages(STORED), idf=idf)
    assert probs.shape == (len(STORED),) and np.all((probs >= 0) & (probs <= 1))
    assert min(probs[:2]) > max(probs[2:])
    assert max(probs[4:]) < min(probs[2:4])  # look-alikes still above unrelated questions
    assert all(model.is_duplicate(p) for p in probs[:2])
    assert not any(model.is_duplicate(p) for p in probs[2:])  # "SCIM" for "SSO", "Azure AD" for "Okta"
    # an identical question is the best match and a duplicate
    same = model.score(STORED[5], embedder.embed_query(STORED[5]), STORED, embedder.embed_passages(STORED), idf=idf)
    assert int(np.argmax(same)) == 5 and model.is_duplicate(same[5])


def test_paraphrase_in_other_words_scores_above_look_alike(embedder):
    """The embedding puts the SCIM look-alike (cosine 0.70) above this paraphrase (0.69); with the company's
    word rarity the paraphrase comes first (it was below with the Quora-wide table once shipped)."""
    model = DuplicateModel.load()
    others = ["Can we log in through Okta single sign-on?", "Do you support SCIM provisioning with Okta?"]
    probs = model.score(QUESTION, embedder.embed_query(QUESTION), others, embedder.embed_passages(others),
                        idf=company_idf())
    assert probs[0] > probs[1] and model.is_duplicate(probs[0])


def test_the_company_name_alone_does_not_keep_a_rewording_apart(embedder):
    model = DuplicateModel.load()
    other = ["Does Fernbrook support SSO with Okta?"]
    vector, others = embedder.embed_query(QUESTION), embedder.embed_passages(other)
    assert model.is_duplicate(model.score(QUESTION, vector, other, others, idf=company_idf())[0])
    assert not model.is_duplicate(model.score(QUESTION, vector, other, others, idf=Idf.uniform())[0])


@pytest.mark.xfail(strict=True, reason="known limit (kb/duplicates.py docstring): the company IDF lifts it from "
                   "0.08 to 0.22, but at cosine 0.70 Quora pairs that differ by common words only are mostly not "
                   "duplicates, and the weights are fitted there")
def test_company_name_case_with_a_lower_cosine(embedder):
    model = DuplicateModel.load()
    text, other = "Are you FedRAMP authorized?", ["Is Fernbrook FedRAMP authorized?"]
    prob = model.score(text, embedder.embed_query(text), other, embedder.embed_passages(other), idf=company_idf())
    assert model.is_duplicate(prob[0])


def test_score_top_n_falls_back_to_cosine_and_accepts_cached_terms(embedder):
    model = DuplicateModel.load()
    question = QUESTION
    vector, others = embedder.embed_query(question), embedder.embed_passages(STORED)
    idf = company_idf()
    full = model.score(question, vector, STORED, others, idf=idf, top_n=None)
    cached = model.score(question, vector, STORED, others, idf=idf, other_terms=[analyse_question(t) for t in STORED])
    assert np.allclose(full, cached)  # 6 stored questions < top_n: all get the full model
    nearest_only = model.score(question, vector, STORED, others, idf=idf, top_n=1)
    best = int(np.argmax(others @ vector))
    assert nearest_only[best] == pytest.approx(full[best])
    rest = [i for i in range(len(STORED)) if i != best]
    assert np.allclose(nearest_only[rest], model.cosine_probabilities(others[rest] @ vector))
    assert model.score(question, vector, [], np.zeros((0, vector.shape[0]), np.float32), idf=idf).shape == (0,)
    with pytest.raises(ValueError, match="same length"):
        model.score(question, vector, STORED[:2], others, idf=idf)


def test_score_one_against_ten_thousand_is_fast():
    model = DuplicateModel.load()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((10_000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [f"Do you support integration number {i} with the {i % 97} connector?" for i in range(10_000)]
    idf = company_idf()
    model.score("warm up the analyser", vectors[0], texts[:10], vectors[:10], idf=idf)
    started = time.perf_counter()
    probs = model.score(texts[42], vectors[42], texts, vectors, idf=idf)
    elapsed = time.perf_counter() - started
    assert probs.shape == (10_000,) and int(np.argmax(probs)) == 42
    assert elapsed < 1.0, f"{elapsed:.3f} s for one question against 10,000"


# -- the model file ----------------------------------------------------------------------------------
def test_shipped_model_loads():
    model = DuplicateModel.load()
    assert model.features == FEATURES and set(model.weights) == set(FEATURES)
    assert set(model.fallback_weights) == set(FALLBACK_FEATURES)
    assert 0.0 < model.threshold < 1.0
    assert "kb eval duplicates" in model.source and "2026-11-23" in model.source
    assert model.metrics["test_f1"] >= 0.82
    assert model.weights["cosine"] + model.weights["cosine_sq"] > 0  # more similar, more likely a duplicate


def test_shipped_model_file_holds_weights_and_thresholds_only():
    """No word statistics: the Quora questions it was fitted on are licensed for evaluation only."""
    data = json.loads((Path(__file__).parents[1] / "kb" / "duplicate_model.json").read_text())
    assert set(data) == {"features", "weights", "bias", "threshold", "fallback_weights", "fallback_bias", "source",
                         "metrics"}
    assert set(data["weights"]) == set(FEATURES) and set(data["fallback_weights"]) == set(FALLBACK_FEATURES)
    assert all(isinstance(value, float) for value in (*data["weights"].values(), *data["metrics"].values()))
    assert "not stored" in data["source"]


def test_a_model_file_with_an_old_idf_table_still_loads(tmp_path):
    data = json.loads((Path(__file__).parents[1] / "kb" / "duplicate_model.json").read_text())
    path = tmp_path / "duplicate_model.json"
    path.write_text(json.dumps(data | {"threshold": 0.5, "idf_default": 9.0, "idf": {"okta": 3.0}}))
    loaded = DuplicateModel.load(path)
    assert loaded.threshold == 0.5 and loaded.weights == DuplicateModel.load().weights


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


def test_grouping_metrics_by_hand():
    # questions 0-4; labelled groups {0, 1, 2} and {3, 4}; look-alikes (0, 3) and (1, 4)
    topics = {0: 10, 1: 10, 2: 11, 3: 10, 4: 12}  # 0 and 1 joined (right), 0-3 and 1-3 joined (wrong)
    m = grouping_metrics(topics, [[0, 1, 2], [3, 4]], [[0, 3], [1, 4]])
    assert (m["questions"], m["topics"], m["duplicate_pairs"], m["joined_pairs"]) == (5, 3, 4, 3)
    assert m["duplicate_pairs_joined"] == 1 and m["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["recall"] == 0.25 and m["f1"] == pytest.approx(2 / 7, abs=1e-4)
    assert m["lookalikes_merged"] == 1 and m["merged_lookalikes"] == [[0, 3]]
    alone = grouping_metrics({0: 1, 1: 2}, [[0, 1]], [])
    assert (alone["precision"], alone["recall"], alone["f1"], alone["lookalikes_merged"]) == (0.0, 0.0, 0.0, 0)


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
def run_kb(tmp_path, embedder, monkeypatch, cli_model):
    """Invoke `kb` with a config in tmp_path and the session's model instead of loading another."""

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
    dev_questions = len(analyse_pairs(read_pairs(TINY / "dev.tsv").pairs))
    assert report["model"]["idf"] == {"source": "dev questions", "documents": dev_questions, "stored_in_model": False}
    assert report["seconds"]["embedding"] >= 0 and report["seconds"]["total"] > 0
    saved = DuplicateModel.load(out)
    assert saved.features == FEATURES and "kb eval duplicates" in saved.source and "duplicates" in saved.source
    assert saved.threshold == report["model"]["threshold"] and "test_f1" in saved.metrics
    assert "idf" not in json.loads(out.read_text())  # weights only; rarity comes from the deployment

    text = run_kb("eval", "duplicates", str(TINY), "--limit", "4").stdout
    assert "dev 4 pairs, test 4 pairs" in text
    lines = [line for line in text.splitlines() if line.startswith(("baseline", "model"))]
    assert len(lines) == 2 and all("precision" in line and "F1" in line for line in lines)
    assert "word rarity: document frequencies over the" in text and "not stored in the model" in text
