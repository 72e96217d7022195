"""Search building blocks: fusion, highlighting (with hostile text), filters, confidence."""

from __future__ import annotations

import math

import pytest

from kb.confidence import FEATURES, ConfidenceModel, fit_logistic, search_features
from kb.errors import ValidationError
from kb.fusion import reciprocal_rank_fusion, weighted_fusion
from kb.highlight import make_snippet
from kb.search_filters import SearchFilters, parse_filters


def test_rrf_rewards_agreement_and_keeps_everything():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    keyword = [(3, 12.0), (1, 9.0), (4, 5.0)]
    fused = reciprocal_rank_fusion(dense, keyword, rrf_k=60)
    assert [pid for pid, _ in fused][:2] == [1, 3]  # ranked high by both
    assert {pid for pid, _ in fused} == {1, 2, 3, 4}
    assert math.isclose(fused[0][1], 0.5 / 61 + 0.5 / 62)


def test_rrf_weight_one_is_the_dense_ranking():
    dense = [(5, 0.5), (6, 0.4)]
    keyword = [(6, 3.0), (7, 2.0)]
    assert [pid for pid, _ in reciprocal_rank_fusion(dense, keyword, dense_weight=1.0)][:2] == [5, 6]


def test_weighted_fusion_normalises_unbounded_bm25():
    dense = [(1, 0.80), (2, 0.79), (3, 0.20)]
    keyword = [(2, 40.0), (1, 1.0), (3, 0.5)]
    fused = dict(weighted_fusion(dense, keyword, dense_weight=0.5))
    assert fused[2] > fused[1]
    assert all(0 <= v <= 1 for v in fused.values())


def test_snippet_marks_query_words_and_escapes_everything_else():
    passage = ('Our <script>alert(1)</script> SCIM provisioning works with Okta. {{7*7}} '
               'Provisioned users get roles.')
    snippet = make_snippet(passage, "scim provisioning okta")
    assert "<script>" not in snippet.html and "&lt;script&gt;" in snippet.html
    assert "<mark>SCIM</mark>" in snippet.html and "<mark>Okta</mark>" in snippet.html
    assert "<mark>provisioning</mark>" in snippet.html
    assert "{{7*7}}" in snippet.html  # shown literally, never evaluated
    assert snippet.html.count("<mark>") == snippet.html.count("</mark>")
    assert "<mark>" not in snippet.text


def test_snippet_attribute_injection_stays_text():
    snippet = make_snippet('Pricing" onmouseover="alert(1) for the Growth plan', "growth plan")
    assert '"' not in snippet.html.replace("&quot;", "")
    assert "<mark>Growth</mark>" in snippet.html


def test_snippet_window_moves_to_the_matches():
    words = ["filler"] * 300 + ["data", "residency", "in", "Frankfurt"] + ["filler"] * 300
    snippet = make_snippet(" ".join(words), "data residency", max_words=40)
    assert "<mark>residency</mark>" in snippet.html
    assert snippet.text.startswith("… ") and snippet.text.endswith(" …")
    assert len(snippet.text.split()) <= 42


def test_snippet_strips_control_characters():
    assert "\x08" not in make_snippet("bad\x08 byte in text about SSO", "sso").html


def test_parse_filters_validates_and_splits_lists():
    filters = parse_filters(kinds=["video,podcast"], tags=["Security"], published_from="2026-01-01")
    assert filters.kinds == ("video", "podcast") and filters.tags == ("security",)
    assert filters.active and not SearchFilters().active
    with pytest.raises(ValidationError, match="unknown kind 'ebook'"):
        parse_filters(kinds=["ebook"])
    with pytest.raises(ValidationError, match="must look like"):
        parse_filters(published_from="31/01/2026")
    with pytest.raises(ValidationError, match="after"):
        parse_filters(published_from="2026-02-01", published_to="2026-01-01")


def test_confidence_features_and_prediction_are_bounded():
    features = search_features(dense_scores=[0.8, 0.5], keyword_top=20.0, term_coverage=1.0,
                               dense_first_content=1, keyword_first_content=1, fused_rank_dense=1)
    assert set(features) == set(FEATURES)
    assert features["dense_margin"] == pytest.approx(0.3) and features["agreement"] == 1.0
    model = ConfidenceModel.load()
    high = model.predict(features)
    low = model.predict(search_features(dense_scores=[0.2, 0.19], keyword_top=0.0, term_coverage=0.0,
                                        dense_first_content=1, keyword_first_content=None, fused_rank_dense=3))
    assert 0 <= low < high <= 1


def test_logistic_fit_separates_and_calibrates():
    rows = [{"dense_top": x / 100} for x in range(100)]
    labels = [1 if x >= 50 else 0 for x in range(100)]
    weights, bias = fit_logistic(rows, labels)
    model = ConfidenceModel(weights=weights, bias=bias)
    assert model.predict({"dense_top": 0.9}) > 0.9 and model.predict({"dense_top": 0.1}) < 0.1
    assert 0.3 < model.predict({"dense_top": 0.495}) < 0.7


def test_damaged_local_calibration_falls_back_to_shipped(tmp_path):
    path = tmp_path / "confidence.json"
    path.write_text("{broken")
    assert ConfidenceModel.load(path).weights == ConfidenceModel.load().weights
