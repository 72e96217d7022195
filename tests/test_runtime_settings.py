"""Settings admins change at run time: checked like config values, applied at once (also across workers),
and used by asking (answer threshold), the backlog (SLA days) and tag suggestions (personas and stages)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kb.content import PageRecord, PassageInput, store_page
from kb.demand import as_utc
from kb.errors import NotFoundError, ValidationError
from kb.knowledge_base import KnowledgeBase
from kb.models import Topic
from kb.question_input import QuestionInput
from kb.questions import submit_question
from kb.runtime_settings import apply_runtime_settings, reset_override, save_tag, set_overrides, setting_rows
from kb.settings import SiteSettings
from kb.sites import add_site
from kb.tagging import check_tag, suggest_tags
from tests.support.web_client import logged_in
from web import create_app

TEXT = ("Acme supports SAML single sign-on with Okta, Azure AD and Google Workspace. Administrators connect "
        "their identity provider in the security settings and users sign in with their corporate account.")


@pytest.fixture(scope="module")
def rkb(make_module_kb):
    kb = make_module_kb(name="runtime")
    with kb.transaction() as db:
        site = add_site(db, SiteSettings(name="acme", base_url="https://www.acme.test/"))
        store_page(db, site.id, PageRecord(canonical_url="https://www.acme.test/sso/", content_hash="h1",
                                           title="Single sign-on", kind="blog", passages=[PassageInput(text=TEXT)]))
    kb.refresh_index()
    return kb


@pytest.fixture(scope="module")
def admin(rkb):
    return logged_in(create_app(rkb, {"TESTING": True}), rkb, "root@acme.test", "admin")


@pytest.fixture(autouse=True)
def clean_overrides(rkb):
    yield
    for row in setting_rows(rkb):
        if row["source"] == "override":
            reset_override(rkb, row["key"])


def ask(kb, text: str, who: str = "rep@acme.test"):
    return submit_question(kb, QuestionInput(text=text, asked_by=who))


def test_the_answer_threshold_override_decides_what_asking_answers(rkb, admin):
    question = "Do you support single sign-on with Okta?"
    response = admin.api("PUT", "/api/v1/settings/questions.answer_threshold", json={"value": 0.0})
    assert response.status_code == 200
    assert response.get_json()["value"] == 0.0 and response.get_json()["source"] == "override"
    answered = ask(rkb, question, "a@acme.test")
    assert answered.decision == "answered" and answered.threshold == 0.0

    admin.api("PUT", "/api/v1/settings/questions.answer_threshold", json={"value": 1})
    gap = ask(rkb, question, "b@acme.test")
    assert gap.decision == "gap" and gap.threshold == 1.0

    response = admin.api("DELETE", "/api/v1/settings/questions.answer_threshold")
    assert response.status_code == 200
    row = response.get_json()
    assert row["source"] == "config" and row["value"] == row["config_value"] == -1.0
    assert ask(rkb, question, "c@acme.test").threshold == rkb.confidence_model.threshold


def test_sla_days_set_in_the_settings_page_give_new_topics_their_due_date(rkb, admin):
    response = admin.form("/admin/settings", {"backlog.sla_days.high": "2", "backlog.sla_days.medium": "3",
                                              "backlog.sla_days.low": "4", "questions.answer_threshold": "1"})
    assert response.status_code == 302
    assert rkb.settings.backlog.sla_days == {"high": 2, "medium": 3, "low": 4}
    result = ask(rkb, "Can we pay invoices in Swiss francs through your treasury module?")
    with rkb.sessions() as db:
        topic = db.get(Topic, result.topic["id"])
        days = {"high": 2, "medium": 3, "low": 4}[topic.priority_level]
        assert as_utc(topic.due_at) - as_utc(topic.created_at) == timedelta(days=days)
    html = admin.get("/admin/settings").get_data(as_text=True)
    assert "changed" in html and "by root@acme.test" in html


def test_the_settings_form_only_stores_what_changed(rkb, admin):
    rows = {row["key"]: row for row in setting_rows(rkb)}
    current = rows["backlog.high_priority"]["value"]
    response = admin.form("/admin/settings", {"backlog.high_priority": str(current), "backlog.medium_priority": ""})
    assert response.status_code == 302
    assert all(row["source"] == "config" for row in setting_rows(rkb))


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("questions.answer_threshold", "abc", "must be a number"),
    ("questions.answer_threshold", 1.5, "between 0 and 1"),
    ("questions.duplicate_threshold", True, "must be a number"),
    ("backlog.medium_priority", -1, "must not be negative"),
    ("backlog.medium_priority", 100, "must not exceed backlog.high_priority"),
    ("backlog.sla_days", {"high": 0, "medium": 3, "low": 4}, "between 1 and 3650"),
    ("backlog.sla_days", {"high": 2, "medium": 3}, "needs days for low"),
    ("backlog.sla_days", {"high": 2, "medium": 3, "low": 4, "urgent": 1}, "no level 'urgent'"),
    ("backlog.sla_days", {"high": "soon", "medium": 3, "low": 4}, "must be an integer"),
    ("backlog.sla_days", [1, 2, 3], "must be a table"),
    ("personas", [], "at least one"),
    ("personas", [{"name": "finance"}, {"name": " Finance "}], "must be unique"),
    ("personas", [{"name": "x", "colour": "red"}], "unknown setting 'personas[0].colour'"),
    ("personas", [{"name": "x" * 101}], "1-100 characters"),
    ("stages", "attract", "must be a table"),
])
def test_invalid_values_are_400_with_the_message(admin, rkb, key, value, needle):
    response = admin.api("PUT", f"/api/v1/settings/{key}", json={"value": value})
    assert response.status_code == 400, response.get_json()
    assert needle in response.get_json()["error"]["message"]
    assert all(row["source"] == "config" for row in setting_rows(rkb))


def test_setting_api_rejects_unknown_keys_and_fields(admin):
    response = admin.api("PUT", "/api/v1/settings/web.secure_cookies", json={"value": False})
    assert response.status_code == 404 and "no run-time setting" in response.get_json()["error"]["message"]
    response = admin.api("PUT", "/api/v1/settings/backlog.high_priority", json={"value": 5, "updated_by_id": 1})
    assert response.status_code == 400 and "unknown field" in response.get_json()["error"]["message"]
    response = admin.api("PUT", "/api/v1/settings/backlog.high_priority", json={})
    assert response.status_code == 400
    assert admin.api("DELETE", "/api/v1/settings/database.url").status_code == 404


def test_a_bad_settings_form_shows_the_message(admin, rkb):
    response = admin.form("/admin/settings", {"backlog.high_priority": "2", "backlog.medium_priority": "5"})
    assert response.status_code == 400
    assert "must not exceed backlog.high_priority" in response.get_data(as_text=True)
    assert rkb.settings.backlog.high_priority == 6.0


def test_listing_shows_effective_and_config_values(admin, rkb):
    set_overrides(rkb, {"backlog.high_priority": 9}, user_id=None)
    rows = {row["key"]: row for row in admin.get("/api/v1/settings").get_json()["settings"]}
    assert set(rows) == {"questions.answer_threshold", "questions.duplicate_threshold", "backlog.high_priority",
                         "backlog.medium_priority", "backlog.sla_days", "personas", "stages"}
    assert rows["backlog.high_priority"]["value"] == 9.0 and rows["backlog.high_priority"]["config_value"] == 6.0
    assert rows["backlog.high_priority"]["source"] == "override"
    assert rows["personas"]["value"][0]["name"] == "it-security"


def test_resetting_one_key_that_others_depend_on_is_refused(rkb):
    set_overrides(rkb, {"backlog.high_priority": 20, "backlog.medium_priority": 10}, user_id=None)
    with pytest.raises(ValidationError, match="conflicts with another override"):
        reset_override(rkb, "backlog.high_priority")
    reset_override(rkb, "backlog.medium_priority")
    reset_override(rkb, "backlog.high_priority")
    assert rkb.settings.backlog.high_priority == 6.0


def test_an_override_reaches_another_worker_on_its_next_request(rkb, embedder):
    other = KnowledgeBase(rkb.settings, embedder=embedder)  # a second process on the same database
    try:
        apply_runtime_settings(other)
        assert other.settings.questions.duplicate_threshold == -1.0
        set_overrides(rkb, {"questions.duplicate_threshold": 0.8}, user_id=None)
        apply_runtime_settings(other)
        assert other.settings.questions.duplicate_threshold == 0.8
        reset_override(rkb, "questions.duplicate_threshold")
        apply_runtime_settings(other)
        assert other.settings.questions.duplicate_threshold == -1.0
    finally:
        other.close()


def test_personas_added_and_removed_at_run_time_drive_tag_suggestions(rkb, admin):
    question = "Will you sign our data processing agreement and accept our redlines to the MSA?"
    with rkb.sessions() as db:
        assert suggest_tags(rkb, db, question, None).persona != "legal"
    response = admin.form("/admin/settings/personas", {
        "name": "legal", "description": "Legal and compliance teams reviewing contracts: MSA redlines, DPA, "
                                        "GDPR, liability caps, indemnities and terms of service.",
        "examples": "Will you sign our DPA?\nCan we redline the MSA?\n\nWhat is your liability cap?"})
    assert response.status_code == 302
    assert check_tag(rkb.settings, "persona", "Legal") == "legal"  # reps may tag with it now
    legal = next(t for t in rkb.settings.personas if t.name == "legal")
    assert legal.examples == ["Will you sign our DPA?", "Can we redline the MSA?", "What is your liability cap?"]
    with rkb.sessions() as db:
        assert suggest_tags(rkb, db, question, None).persona == "legal"

    response = admin.form("/admin/settings/personas/remove", {"name": "legal"})
    assert response.status_code == 302
    with rkb.sessions() as db:
        assert suggest_tags(rkb, db, question, None).persona != "legal"
    with pytest.raises(ValidationError):
        check_tag(rkb.settings, "persona", "legal")


def test_editing_and_bad_edits_of_a_stage(rkb, admin):
    save_tag(rkb, "stages", original="delight", name="delight", description="Customers after the sale.",
             examples=["How do I add a user?"], user_id=None)
    assert next(t for t in rkb.settings.stages if t.name == "delight").description == "Customers after the sale."
    response = admin.form("/admin/settings/stages", {"original": "delight", "name": "Attract", "description": ""})
    assert response.status_code == 400 and "must be unique" in response.get_data(as_text=True)
    response = admin.form("/admin/settings/stages", {"original": "nope", "name": "x"})
    assert response.status_code == 404
    response = admin.form("/admin/settings/colours", {"name": "red"})
    assert response.status_code == 404
    with pytest.raises(NotFoundError):
        save_tag(rkb, "stages", original="missing", name="m", description="", examples=[], user_id=None)
    html = admin.get("/admin/settings").get_data(as_text=True)
    assert "Customers after the sale." in html


def test_tag_text_is_escaped_on_the_settings_page(rkb, admin):
    save_tag(rkb, "personas", original=None, name="<script>alert(1)</script>", description="<img src=x onerror=1>",
             examples=["<b>hi</b>"], user_id=None)
    html = admin.get("/admin/settings").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_stored_override_that_no_longer_fits_is_skipped_not_fatal(rkb, embedder):
    from kb.models import SettingOverride

    with rkb.transaction() as db:
        db.add(SettingOverride(key="backlog.medium_priority", value=50.0))
        db.add(SettingOverride(key="questions.match_count", value=7))  # not a run-time key
    settings = apply_runtime_settings(rkb)
    assert settings.backlog.medium_priority == 3.0 and settings.questions.match_count == 3
    rows = {row["key"]: row for row in setting_rows(rkb)}
    assert "must not exceed" in rows["backlog.medium_priority"]["error"]
    with rkb.transaction() as db:
        db.query(SettingOverride).delete()
    apply_runtime_settings(rkb)
