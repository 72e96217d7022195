"""`kb questions import`: good rows land, bad rows are reported by physical line, importing twice adds
nothing, a dry run writes nothing, and unreadable files are one clear error. Each test imports into its own
copy of the crawled demo knowledge base (see tests/test_questions.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kb.bench_questions import generate_rows, read_demo_questions, write_csv
from kb.cli import cli
from kb.demand import as_utc
from kb.errors import ValidationError
from kb.models import Question, Topic, User
from kb.question_import import import_questions
from tests.support.demo_copy import writable_demo

LONG = "Can you tell us " + "very " * 200 + "precisely how the sync works?"
# Line numbers are the file's physical lines: the header is line 1, the quoted question of line 3 spans
# lines 3-5, line 12 is blank.
PARTLY_BAD = f"""\
Question, Asked By ,asked_at,persona,stage,company,deal_stage,source
Do you integrate with SAP S/4HANA?,sarah.kim@fernbrook.example,2026-10-01T09:00:00Z,finance,engage,Bluefin,evaluation,email
"Our auditors asked two things:
can we export the approval history, and
how long is it kept?",tom.becker@fernbrook.example,2026-10-02,it-security,,Ironbark,security review,rfp
Are you FedRAMP authorized?,bob,2026-10-03,,,,,
,maria.lopez@fernbrook.example,2026-10-03,,,,,
What does the Growth plan cost per year?,maria.lopez@fernbrook.example,yesterday,,,,,
Will you sign a HIPAA BAA?,maria.lopez@fernbrook.example,2026-10-04,cfo,,,,
Will you sign a HIPAA BAA?,maria.lopez@fernbrook.example,2026-10-04,,later,,,
Is there an iOS or Android app?,diego.martinez@fernbrook.example,2026-10-05T10:00:00+02:00,Operations,delight,Orchard,demo,call

What's the API rate limit?,,2026-10-06,,,,,
Can we pay vendors in local currency?,aisha.khan@fernbrook.example,2026-10-06,,,,,,extra
Can we pay our Brazilian and Mexican vendors in their local currency?,aisha.khan@fernbrook.example,,finance,,Andes,demo,
{LONG},aisha.khan@fernbrook.example,2026-10-07,,,,,
"""
BAD_LINES = {6: "asked_by is not an e-mail address", 7: "the question is empty",
             8: "asked_at is not an ISO 8601 date", 9: "unknown persona 'cfo'", 10: "unknown stage 'later'",
             13: "asked_by is empty", 14: "has 9 fields but the header has 8 columns", 16: "the question is too long"}


@pytest.fixture
def ikb(demo_kb, tmp_path, embedder):
    kb = writable_demo(demo_kb, tmp_path / "kb", embedder)
    yield kb
    kb.close()


@pytest.fixture
def partly_bad(tmp_path):
    path = tmp_path / "partly-bad.csv"
    path.write_text(PARTLY_BAD, encoding="utf-8")
    return path


def counts(kb) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with kb.sessions() as session:
        return tuple(session.scalar(select(func.count(model.id))) for model in (Question, Topic, User))


def test_good_rows_land_and_bad_rows_are_reported_by_line(ikb, partly_bad):
    report = import_questions(ikb, partly_bad)
    assert [line for line, _ in report.errors] == sorted(BAD_LINES)
    for line, reason in report.errors:
        assert BAD_LINES[line] in reason, (line, reason)
    assert "valid personas: it-security, finance, procurement, operations" in dict(report.errors)[9]
    assert (report.rows, report.added, report.bad, report.already_present) == (12, 4, 8, 0)
    assert report.answered + report.gaps == 4 and report.added_topics >= 1
    with ikb.sessions() as session:
        stored = {q.text: q for q in session.scalars(select(Question))}
        assert len(stored) == 4
        audit = stored["Our auditors asked two things: can we export the approval history, and how long is it kept?"]
        assert audit.asked_by.email == "tom.becker@fernbrook.example" and audit.source == "rfp"
        assert audit.persona == "it-security" and audit.company == "Ironbark" and audit.deal_stage == "security review"
        assert as_utc(audit.asked_at) == datetime(2026, 10, 2, tzinfo=UTC)
        app = stored["Is there an iOS or Android app?"]
        assert as_utc(app.asked_at) == datetime(2026, 10, 5, 8, 0, tzinfo=UTC) and app.persona == "operations"
        no_time = stored["Can we pay our Brazilian and Mexican vendors in their local currency?"]
        assert no_time.source == "import" and no_time.asked_at is not None
        assert all(q.topic_id is not None and q.embedding is not None for q in stored.values())
        topics = session.scalars(select(Topic)).all()
        assert sum(t.ask_count for t in topics) == 4 and all(t.priority > 0 for t in topics)


def test_importing_the_same_file_twice_adds_nothing(ikb, partly_bad):
    first = import_questions(ikb, partly_bad)
    before = counts(ikb)
    second = import_questions(ikb, partly_bad)
    assert (second.added, second.already_present, second.bad, second.added_topics) == (0, first.added, 8, 0)
    assert counts(ikb) == before


def test_a_row_repeated_within_a_file_is_stored_once(ikb, tmp_path):
    path = tmp_path / "repeated.csv"
    row = "Are you FedRAMP authorized?,olivia.brooks@fernbrook.example,2026-10-03T12:00:00Z\n"
    path.write_text("question,asked_by,asked_at\n" + row + row.replace("FedRAMP", "FedRAMP ") + row.upper(),
                    encoding="utf-8")
    report = import_questions(ikb, path)
    assert (report.added, report.already_present) == (1, 2)  # same words (case and spacing aside), asker, time


def test_a_dry_run_writes_nothing_and_predicts_the_import(ikb, partly_bad):
    dry = import_questions(ikb, partly_bad, dry_run=True)
    assert dry.dry_run and counts(ikb) == (0, 0, 0)
    assert (dry.added, dry.bad, dry.already_present) == (4, 8, 0) and dry.errors
    real = import_questions(ikb, partly_bad)
    assert (real.added, real.added_topics, real.answered, real.gaps) == (dry.added, dry.added_topics, dry.answered,
                                                                         dry.gaps)


def test_byte_order_mark_and_header_spelling_do_not_matter(ikb, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffQUESTION ; Asked-By;Notes\n".replace(";", ",").encode("utf-8")
                     + b"Is there a free trial?,Sarah.Kim@Fernbrook.example,from the webinar\n")
    report = import_questions(ikb, path)
    assert (report.added, report.bad, report.ignored_columns) == (1, 0, ["notes"])
    with ikb.sessions() as session:
        assert session.scalar(select(User.email)) == "sarah.kim@fernbrook.example"


@pytest.mark.parametrize("content, needle", [
    ("question,asked_by\nPouvez-vous signer un accord de confidentialité?,a@b.example\n".encode("latin-1"),
     "latin.csv is not UTF-8 text (line 2"),
    (b"question,email\nHi?,a@b.example\n", "missing required column asked_by (found: question, email)"),
    (b"text,email\n", "missing required columns question, asked_by"),
    (b"", "is empty"),
])
def test_unreadable_files_are_one_clear_error_and_write_nothing(ikb, tmp_path, content, needle):
    path = tmp_path / "latin.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        import_questions(ikb, path)
    assert counts(ikb) == (0, 0, 0)


def test_generated_benchmark_rows_import_cleanly_into_few_topics(ikb, tmp_path):
    """The rows `kb bench questions` imports are valid, and their small rewordings join their topics."""
    base = read_demo_questions()
    path = write_csv(tmp_path / "generated.csv", generate_rows(base, 300, seed=3))
    report = import_questions(ikb, path)
    assert (report.rows, report.bad, report.added) == (300, 0, 300)
    assert report.added_topics <= len(base), report.added_topics
    again = import_questions(ikb, path)
    assert (again.added, again.already_present) == (0, 300)


# -- the command -----------------------------------------------------------------------------------------
@pytest.fixture
def kb_import(ikb, tmp_path, monkeypatch, embedder, cli_model):
    config = tmp_path / "config.toml"
    config.write_text(f'instance_path = "{ikb.settings.instance_dir}"\n', encoding="utf-8")
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, ["--config", str(config), *args], catch_exceptions=True)


def test_kb_questions_import_reports_counts_and_bad_lines(kb_import, partly_bad):
    dry = kb_import("questions", "import", str(partly_bad), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("dry run, nothing written: 12 rows read: 4 would be added")
    result = kb_import("questions", "import", str(partly_bad))
    assert result.exit_code == 0, result.output  # the file was read; some rows were bad
    assert "12 rows read: 4 added" in result.stdout and "8 bad" in result.stdout
    assert "line 6: asked_by is not an e-mail address: 'bob'" in result.stdout
    assert "line 14: has 9 fields but the header has 8 columns" in result.stdout
    again = json.loads(kb_import("questions", "import", str(partly_bad), "--json").stdout)
    assert again["added"] == 0 and again["already_present"] == 4 and again["bad"] == 8
    assert {"line": 16, "reason": again["errors"][-1]["reason"]} == again["errors"][-1]


def test_kb_questions_import_of_an_unreadable_file_is_one_error_line(kb_import, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"question\nHi?\n")
    result = kb_import("questions", "import", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == "error: bad.csv: missing required column asked_by (found: question)"
    missing = kb_import("questions", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_the_demo_imports_its_reps_questions(ikb):
    from kb.demo.session import backlog_summary, import_demo_questions

    report = import_demo_questions(ikb)
    assert (report.rows, report.added, report.bad) == (50, 50, 0)
    assert report.answered + report.gaps == 50 and 1 <= report.added_topics <= 50
    summary = backlog_summary(ikb, report)
    assert summary.startswith(f"backlog: 50 questions, {report.added_topics} topics, ")
    with ikb.sessions() as session:
        sources = set(session.scalars(select(Question.source)))
    assert sources == {"call", "chat", "slack", "email", "rfp"}  # each row's own source column
    assert import_demo_questions(ikb).added == 0
