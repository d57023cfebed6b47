"""Settings, read once from the environment (``SINCRO_`` prefix).

Defaults describe the embedded mode: a SQLite file and Celery's SQLAlchemy transport under
``./var``, no Redis. Production sets URLs for PostgreSQL, RabbitMQ and Redis; the code path is
the same, only the URLs differ.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sincro.text_pt import is_zone

DEFAULT_SECRET = "sincro-embedded-dev-secret-change-me"  # refused everywhere but loopback
SECRET_FILE = "secret_key"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_SECRET_LENGTH = 32


CONNECTORS_RECORD = "connectors_file"


def record_connectors_file(var_dir: Path, path: Path) -> None:
    """Remember ``path`` as this installation's connectors file (``var/connectors_file``), so
    ``sincro sync status`` and the console find the demo's sources without an environment
    variable."""
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / CONNECTORS_RECORD).write_text(str(path.resolve()), encoding="utf-8")


def recorded_connectors_file(var_dir: Path) -> Path | None:
    """The connectors file recorded by :func:`record_connectors_file`, if it still exists."""
    record = var_dir / CONNECTORS_RECORD
    if not record.is_file():
        return None
    path = Path(record.read_text(encoding="utf-8").strip())
    return path if path.is_file() else None


def embedded_secret(var_dir: Path) -> str:
    """The embedded mode's signing secret: random, made on first run, kept in
    ``var/secret_key`` (owner-only), so no two installations share one and nobody can forge a
    console session from a published constant. Concurrent first starts agree on one file."""
    path = var_dir / SECRET_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    for _ in range(50):  # another process may be between creating and writing the file
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: remove it and start again")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINCRO_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "sincro:"
    # each Redis client of a process (the event loop's, the threads') opens at most this many
    # connections; a call that finds them all busy waits for one up to the wait, then the
    # request answers 503 shared_state_unavailable (never a 500)
    redis_max_connections: int = Field(default=32, ge=1, le=10_000)
    redis_pool_wait_seconds: float = Field(default=5.0, gt=0, le=300)
    events_exchange: str = "sincro.events"
    host: str = "127.0.0.1"
    port: int = 8000
    api_workers: int = 1
    # a worker process must start (import, migrate check, lifespan) and then answer the
    # supervisor's pings within this; uvicorn's 5 s killed starting workers in a loop on a
    # busy host
    api_worker_healthcheck_seconds: int = Field(default=60, ge=1)
    # the api processes' garbage collector (sincro.heap): the youngest generation collected
    # after this many new objects instead of Python's 700 (0: Python's), and the long-lived
    # heap frozen after start and after the cache warm-up; under thousands of connections the
    # collector was two fifths of a process's time
    api_gc_young_threshold: int = Field(default=50_000, ge=0)
    api_gc_freeze: bool = True
    # how long a thread of an api process may keep the GIL while another waits for it
    # (Python's default: 5 ms). The event loop is busy under load, so a thread's short work
    # (a rate-limit lease, a pooled statement) waited up to this long at each of its many
    # GIL hand-overs: one lease took tens of ms, and a key's requests waited for it
    api_switch_interval_ms: float = Field(default=0.5, gt=0, le=100)
    # the event loop the api processes serve on (uvicorn's ``--loop``). asyncio's: at
    # thousands of connections uvloop's starved ~1 % of requests for seconds, on a bare
    # endpoint too (p99 4.7 s against asyncio's 0.2 s, at the same throughput); uvloop costs
    # ~8-11 % less CPU a request, for a deployment that sees few connections (behind a proxy
    # that pools them). docs/benchmarks.md, ninth stop
    api_loop: Literal["asyncio", "uvloop"] = "asyncio"
    # worker processes lower their CPU priority by this much: where api and workers share a
    # machine, a campaign or a sync uses the idle CPU and interactive requests come first
    worker_nice: int = Field(default=10, ge=0, le=19)
    secret_key: str = ""  # embedded: random, kept in var/secret_key; production: required
    log_level: str = "INFO"
    log_json: bool = True

    # a database that is down or silent costs a request seconds: connect (and wait for a
    # pooled connection) within this, run a statement (SQLite: wait for the write lock) within
    # that; long jobs (ERP snapshots, the ledger check) raise their own limit to the third
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    database_statement_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    database_long_statement_timeout_seconds: float = Field(default=3600.0, gt=0)

    default_rate_limit_per_minute: int = Field(default=600_000, ge=1)
    reservation_default_ttl_seconds: int = Field(default=900, ge=1)
    # at most 30 days: the request schema's ceiling (inventory.schemas.MAX_TTL_SECONDS)
    reservation_max_ttl_seconds: int = Field(default=86_400, ge=1, le=2_592_000)
    feed_poll_interval_seconds: float = Field(default=0.02, gt=0)
    feed_gap_timeout_seconds: float = Field(default=5.0, gt=0)
    expiry_sweep_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1)
    # webhook targets: http allowed (None: only in embedded mode); hosts (names or addresses,
    # comma-separated in the environment) allowed although private, e.g. an internal receiver
    feed_webhook_allow_http: bool | None = None
    feed_webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    feed_webhook_secret_overlap_seconds: float = Field(default=86_400.0, ge=0)
    availability_cache_ttl_seconds: float = Field(default=300.0, gt=0)
    availability_warm_skus: int = Field(default=1000, ge=0)  # loaded after start; 0: none
    # YAML list of ERP sources; unset in embedded mode: the one `sincro demo` recorded in var/
    connectors_file: Path | None = None
    connectors_backlog_max_files: int = Field(default=50, ge=1)  # waiting ERP files: alert past
    connectors_backlog_max_age_seconds: int = Field(default=900, ge=1)  # oldest waiting file
    # while a REST sync runs, the process's youngest GC generation is collected after this many
    # new objects instead of Python's 700 (0: as it is; sincro.heap.young_threshold): a page
    # of 5,000 balances lives through dozens of young collections and is promoted into full
    # ones, ~18% of a stock sync's CPU
    connectors_gc_young_threshold: int = Field(default=50_000, ge=0)
    console_time_zone: str = "America/Sao_Paulo"  # IANA zone the console shows times in
    # Addresses/CIDRs whose X-Forwarded-For and X-Forwarded-Proto are believed (sincro.clients)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Who may read /metrics and /docs, /redoc, /openapi.json (sincro.exposure); metrics
    # default: public embedded, loopback in production
    metrics_access: Literal["public", "loopback", "key"] | None = None
    docs_access: Literal["public", "loopback", "key"] = "public"
    # Request bodies (sincro.bodylimits): the API's default cap and the console forms' cap
    api_body_max_bytes: int = Field(default=1_048_576, ge=1024)
    console_body_max_bytes: int = Field(default=65_536, ge=1024)
    # Console sign-in throttle (sincro.access.signin); see docs/architecture.md "Security"
    access_sign_in_free_attempts: int = Field(default=5, ge=1)
    access_sign_in_address_free_failures: int = Field(default=20, ge=1)
    access_sign_in_base_delay_seconds: float = Field(default=1.0, gt=0)
    access_sign_in_max_delay_seconds: float = Field(default=900.0, gt=0)
    access_sign_in_window_seconds: float = Field(default=3600.0, gt=0)
    access_password_hash_concurrency: int = Field(default=2, ge=1)
    access_session_idle_seconds: int = Field(default=2 * 3600, ge=60)
    smtp_url: str = ""  # smtp://user:pass@host:port (alerts and, later, messaging)
    alert_from: str = "sincro@localhost"
    # the demo's simulated REST ERPs: this port and the next when free, else free ones (0: free)
    demo_simulator_port: int = Field(default=8201, ge=0, le=65534)
    # retention (beat tasks every retention_every_seconds; see docs/architecture.md, Operations)
    retention_every_seconds: float = Field(default=600.0, gt=0)
    feed_events_keep_days: float = Field(default=7.0, gt=0)  # behind the slowest cursor
    feed_events_keep_rows: int = Field(default=1_000_000, ge=0)  # behind the slowest cursor
    feed_deliveries_keep_days: float = Field(default=7.0, gt=0)
    connectors_archive_keep_days: float = Field(default=14.0, gt=0)
    logs_max_bytes: int = Field(default=20_000_000, ge=100_000)  # var/log/*.log, then rotated
    logs_keep_files: int = Field(default=3, ge=1)
    db_wal_checkpoint_seconds: float = Field(default=60.0, gt=0)  # SQLite: truncate the WAL
    # --- mail tooling and the e-mail sign-up service (issue #9, sections 5 and 8) ---
    # the local SMTP sink's SQLite file (`sincro mail sink`; read by the console's mailbox);
    # unset: var/mail-sink.sqlite in embedded mode, no mailbox page in production
    mailbox_sink_path: Path | None = None
    mailbox_sink_port: int = Field(default=8025, ge=0, le=65535)  # 0: a free port
    mailbox_imap_port: int = Field(default=8143, ge=0, le=65535)  # `sincro mail imap` (demo)
    mailbox_imap_user: str = "cadastro"  # the embedded IMAP server's one demo user
    mailbox_imap_password: str = Field(default="cadastro", repr=False)
    # embedded mode: `sincro serve` also runs the sink (bodies kept) and the embedded IMAP
    mailbox_demo_servers: bool = False
    # the inbox `sincro signup watch` reads: imap://user:pass@host:port/INBOX (imaps:// TLS);
    # unset: no sign-up watcher under `sincro serve`
    signup_imap_url: str = Field(default="", repr=False)
    signup_processed_folder: str = Field(default="Processados", min_length=1, max_length=100)
    signup_poll_seconds: float = Field(default=30.0, gt=0, le=3600)  # without IDLE; IDLE renew
    signup_address: str = "cadastro@localhost"  # From of the replies
    signup_max_message_bytes: int = Field(default=262_144, ge=4096, le=26_214_400)
    signup_replies_per_address_per_hour: int = Field(default=5, ge=1, le=1000)

    # forecasting engine (issue 10): chunks, backtest, quantile levels, history fitted
    forecasting_chunk_size: int = Field(default=500, ge=1, le=100_000)  # series per chunk
    forecasting_backtest_windows: int = Field(default=2, ge=1, le=12)
    forecasting_levels: str = Field(  # quantile levels, whole percents
        default="10,50,90", pattern=r"^\s*[1-9]\d?(\s*,\s*[1-9]\d?)*\s*$"
    )
    # latest periods fitted (0 = all): 364 days keeps 30,000 daily series in the 10-minute budget
    forecasting_max_history: int = Field(default=364, ge=0)
    forecasting_lead_time_samples: int = Field(default=2000, ge=100, le=200_000)
    forecasting_chunk_lease_seconds: float = Field(default=1800.0, ge=30)  # then taken again
    forecasting_service_level: float = Field(default=0.95, ge=0.5, lt=1.0)
    forecasting_review_days: int = Field(default=7, ge=1, le=90)  # how often orders are placed
    forecasting_default_lead_time_days: int = Field(default=7, ge=1, le=180)  # no B1_PE given
    # stock-out alerts: probability of running out before the next delivery that raises one
    forecasting_stockout_alert_probability: float = Field(default=0.5, gt=0, lt=1)
    forecasting_stockout_alert_seconds: float = Field(default=3600.0, gt=0)
    # the live monitor: drift when P10-P90 coverage or scaled error leave these bounds
    forecasting_monitor_seconds: float = Field(default=3600.0, gt=0)
    forecasting_monitor_min_coverage: float = Field(default=0.6, gt=0, lt=1)
    forecasting_monitor_error_ratio: float = Field(default=1.5, gt=1)

    # inventory's sales history (forecasting reads it): roll-up and stock-out sweep cadence
    inventory_history_rollup_seconds: float = Field(default=60.0, gt=0)
    inventory_stockout_sweep_seconds: float = Field(default=900.0, gt=0)

    # customers: a defaulter has an open receivable overdue by more than this many days
    customers_defaulter_days: int = Field(default=5, ge=0, le=3650)
    # --- service health (sincro.health, sincro.ops): heartbeats, queue depths, alerts ---
    health_heartbeat_seconds: float = Field(default=10.0, ge=0, le=300)  # 0: no heartbeats
    health_down_after_seconds: float = Field(default=60.0, gt=0)  # silent this long: down, alert
    health_errors_kept: int = Field(default=10, ge=1, le=100)  # recent ERROR records per process
    health_queue_sample_seconds: float = Field(default=30.0, ge=1)  # the beat reads the broker
    health_queue_max_depth: int = Field(default=1000, ge=0)  # waiting messages: backed up past
    health_queue_backlog_seconds: float = Field(default=300.0, ge=0)  # … this long: alert
    health_keep_hours: float = Field(default=24.0, gt=0)  # gone instances, depth samples
    # --- assistant, understanding (sincro.assistant): intent classifier and entities ---
    # below this calibrated probability the caller asks the customer to clarify
    assistant_confidence_threshold: float = Field(default=0.5, ge=0, le=1)
    assistant_max_text_chars: int = Field(default=2000, ge=1, le=10_000)  # POST /parse text
    assistant_train_at_start: bool = True  # train the classifier when an api process starts
    assistant_model_cache: bool = True  # the fitted classifier cached in var_dir (key-checked)
    # POST /v1/assistant/conversations/{id}/messages answered ahead of FastAPI's stack (same
    # contract; off: every message goes through the documented route)
    assistant_fast_messages: bool = True

    # catalog offers and the demo's customers (offers-demo): `sincro demo` loads this many
    # customers (0: none) with an invoice every demo_billing_cycle_months months per billed
    # customer (docs/architecture.md, "Demo data: sizing")
    demo_customers: int = Field(default=200_000, ge=0, le=2_000_000)
    demo_billing_cycle_months: int = Field(default=2, ge=1, le=12)
    # customers API/console/CSV import (issue #9 part 1): upload cap, lines per atomic batch,
    # longest accepted line, console/API page size
    customers_import_max_bytes: int = Field(default=32_000_000, ge=10_000, le=1_000_000_000)
    customers_import_batch_lines: int = Field(default=2_000, ge=10, le=50_000)
    customers_import_max_line_chars: int = Field(default=4_000, ge=200, le=100_000)
    customers_page_size: int = Field(default=50, ge=5, le=500)

    # reports (issue #9, section 6): periods, range caps, scheduled report e-mails
    reports_time_zone: str = "America/Sao_Paulo"  # IANA zone of "today" and schedule hours
    reports_max_days: int = Field(default=1096, ge=31, le=3660)  # longest range per request
    reports_max_months: int = Field(default=36, ge=1, le=120)  # billing months per request
    reports_schedule_every_seconds: float = Field(default=60.0, ge=5.0, le=3600.0)
    reports_max_recipients: int = Field(default=20, ge=1, le=200)
    reports_mail_from: str = ""  # sender of report e-mails; empty: SINCRO_ALERT_FROM

    # messaging (campaigns, transactional mail, the send ledger; sincro.messaging)
    messaging_rate_per_second: float = Field(default=50.0, gt=0, le=100_000)  # the relay's
    messaging_rate_burst: float = Field(default=1.0, ge=1)  # tokens the shared bucket holds
    messaging_batch_size: int = Field(default=200, ge=1, le=5000)  # ledger ids per message
    messaging_claim_size: int = Field(default=20, ge=1, le=500)  # rows claimed at a time
    messaging_lease_seconds: float = Field(default=120.0, ge=5)  # then "sending" is reaped
    messaging_max_attempts: int = Field(default=6, ge=1, le=50)  # 4xx retries, then failed
    messaging_retry_base_seconds: float = Field(default=60.0, gt=0)  # doubles per attempt
    messaging_requeue_after_seconds: float = Field(default=900.0, ge=10)  # lost broker messages
    messaging_tick_seconds: float = Field(default=5.0, gt=0)  # scheduler, reaper, retries
    messaging_from: str = ""  # default From of campaigns; empty: alert_from
    messaging_public_url: str = "http://127.0.0.1:8000"  # base of unsubscribe links
    messaging_unsubscribe_mailto: str = ""  # optional mailto: of List-Unsubscribe
    messaging_unsubscribe_max_age_days: int = Field(default=400, ge=1)
    messaging_bounce_domain: str = ""  # VERP Return-Path domain; empty: no VERP
    messaging_bounce_imap_url: str = ""  # imaps://user:pass@host/INBOX of the bounce box
    messaging_dkim_selector: str = ""
    messaging_dkim_domain: str = ""
    messaging_dkim_private_key_path: Path | None = None
    messaging_quiet_start: int = Field(default=21, ge=0, le=23)  # local hour, marketing only
    messaging_quiet_end: int = Field(default=8, ge=0, le=23)
    messaging_quiet_billing: bool = False  # True: billing waits for the morning too

    # --- billing and stock wishes (issue #9 §4, transactional messages) ---------------------
    # boleto: Banco do Brasil, convênio of 7 digits (billing/boleto.py documents the layout)
    billing_bank_code: str = Field(default="001", pattern=r"^001$")
    billing_agreement: str = Field(default="1234567", pattern=r"^[0-9]{7}$")  # convênio
    billing_wallet: str = Field(default="17", pattern=r"^[0-9]{2}$")  # carteira
    billing_beneficiary_name: str = Field(default="Sincro", min_length=1, max_length=60)
    billing_beneficiary_document: str = Field(default="", max_length=18)  # CNPJ on the PDF
    billing_pix_key: str = Field(default="", max_length=77)  # empty: no PIX code
    billing_pix_city: str = Field(default="SAO PAULO", min_length=1, max_length=15)
    # dunning: due soon N days before, overdue steps N days after, in the customer's local date
    billing_due_soon_days: int = Field(default=3, ge=1, le=30)
    billing_overdue_days: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1, 7, 15, 30]
    )
    billing_catch_up_days: int = Field(default=2, ge=0, le=60)  # a step older is never sent
    billing_send_from_hour: int = Field(default=8, ge=0, le=23)  # customer's local time
    billing_send_until_hour: int = Field(default=20, ge=1, le=24)
    billing_dunning_every_seconds: float = Field(default=300.0, ge=5)
    billing_dunning_batch: int = Field(default=200, ge=1, le=10_000)
    # back-in-stock wishes: how often the change feed is read (on PostgreSQL: at most this
    # often after outbox commits, and a safety poll), how much per run
    wishes_scan_every_seconds: float = Field(default=5.0, ge=0.5)
    wishes_scan_safety_poll_seconds: float = Field(default=60.0, ge=1)
    wishes_scan_batch: int = Field(default=2000, ge=10, le=100_000)
    wishes_max_open_per_customer: int = Field(default=50, ge=1, le=1000)
    # marketing automation (automation/): interests from the assistant's interactions, rules
    automation_every_seconds: float = Field(default=60.0, ge=1)  # the beat: read, evaluate
    automation_batch: int = Field(default=2000, ge=10, le=100_000)  # outbox events per read
    automation_half_life_days: float = Field(default=7.0, gt=0, le=365)  # interest decay
    automation_min_confidence: float = Field(default=0.5, ge=0, le=1)  # weaker turns ignored
    automation_cap_offers: int = Field(default=1, ge=1, le=100)  # offers per customer ...
    automation_cap_days: int = Field(default=7, ge=1, le=365)  # ... per this many days
    automation_conversion_days: int = Field(default=14, ge=1, le=180)  # a sale counts within
    # --- assistant, channels and the widget (sincro.assistant.widget, .channels) -----------
    # widget origins may be http:// (None: only in embedded mode; https always allowed)
    assistant_site_key_allow_http: bool | None = None
    # public (widget) endpoints: per client address (sincro.clients), per window
    assistant_public_conversations_per_hour: int = Field(default=20, ge=1, le=100_000)
    assistant_public_messages_per_minute: int = Field(default=20, ge=1, le=100_000)
    assistant_public_polls_per_minute: int = Field(default=60, ge=1, le=100_000)
    # a site key's requests per minute over every address (a key's own setting wins)
    assistant_site_key_rate_per_minute: int = Field(default=600, ge=1, le=1_000_000)
    assistant_public_max_text_chars: int = Field(default=1000, ge=1, le=10_000)
    assistant_public_body_max_bytes: int = Field(default=8192, ge=256, le=1_048_576)
    assistant_public_max_messages: int = Field(default=300, ge=2, le=100_000)  # per chat
    assistant_public_idle_seconds: float = Field(default=14_400.0, ge=60)  # token expiry
    assistant_public_poll_max_seconds: float = Field(default=20.0, ge=0, le=60)
    # channel adapters: JSON list of {"name", "kind": "webhook", "secret", "outbound_url"}
    assistant_channels: list[dict[str, str]] = Field(default_factory=list)
    assistant_channel_body_max_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    assistant_channel_signature_tolerance_seconds: float = Field(default=300.0, ge=10)

    # --- assistant, people (issue #11 §3, §5: handoff to agents, live inbox, console) -------
    # service hours in the operator's zone, "HH:MM-HH:MM" or "" (closed that day); outside
    # them a handoff asks the customer to leave a message that is answered by e-mail
    assistant_time_zone: str = "America/Sao_Paulo"
    assistant_service_hours_weekdays: str = "08:00-20:00"
    assistant_service_hours_saturday: str = "09:00-15:00"
    assistant_service_hours_sunday: str = ""
    assistant_agent_capacity: int = Field(default=3, ge=1, le=50)  # open conversations each
    assistant_agent_presence_seconds: float = Field(default=90.0, ge=10)  # inbox seen within
    assistant_auto_assign: bool = True  # the beat hands waiting conversations to agents
    assistant_assign_every_seconds: float = Field(default=5.0, ge=1)
    assistant_wait_sample: int = Field(default=20, ge=1, le=500)  # recent waits estimated from
    assistant_live_poll_seconds: float = Field(default=10.0, ge=0.5, le=60)  # safety-net poll
    # POST /v1/reservations of the lean shape, and a reservation's commit and release, answered
    # ahead of FastAPI's stack (same contract; off: all go through the documented routes)
    inventory_fast_reserve: bool = True
    # GET /v1/availability/{sku} (the summary, or ?location=) of a cached SKU answered ahead of
    # FastAPI's stack (same contract; off: every read goes through the documented route)
    inventory_fast_read: bool = True
    # PostgreSQL: lean reservations that queue while the api process's reservation connections
    # are busy go together, in one transaction (one commit, one WAL flush), up to this many;
    # 1: each its own transaction; and how many such transactions one process has in flight
    # at once (fewer: larger batches, fewer commits; at most the process's 8 connections)
    inventory_reservation_batch: int = Field(default=32, ge=1, le=256)
    inventory_reservation_batches_in_flight: int = Field(default=2, ge=1, le=8)

    @field_validator("assistant_time_zone")
    @classmethod
    def _assistant_zone(cls, value: str) -> str:
        if not is_zone(value):
            raise ValueError(f"unknown time zone {value!r}, e.g. America/Manaus")
        return value

    @field_validator(
        "assistant_service_hours_weekdays",
        "assistant_service_hours_saturday",
        "assistant_service_hours_sunday",
    )
    @classmethod
    def _service_hours(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(
            r"([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)", value
        ):
            raise ValueError(f"hours are HH:MM-HH:MM or empty (closed), got {value!r}")
        if value and value[:5] >= value[6:]:
            raise ValueError(f"the opening hour must come before the closing one: {value!r}")
        return value

    # --- assistant, dialogue (sincro.assistant.dialogue): identity, retention, answers ---
    # identity checks per CPF (CPF + birth date or invoice number) within the window, then the
    # bot refuses and hands the customer to a person
    assistant_identity_max_tries: int = Field(default=5, ge=1, le=100)
    assistant_identity_window_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    # closed conversations (and those silent this long) are purged after this many days
    assistant_retention_days: int = Field(default=180, ge=1, le=3650)
    assistant_purge_every_seconds: float = Field(default=3600.0, ge=60)
    assistant_nearest_stores: int = Field(default=3, ge=1, le=10)  # stores shown per answer

    # --- core speed (issue #12): outbox wake-ups ---
    # With PostgreSQL the event hub is woken by LISTEN/NOTIFY; this is its safety poll (holes
    # left by rolled-back transactions, a listener reconnecting). SQLite keeps
    # feed_poll_interval_seconds.
    feed_idle_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Webhook dispatch: on SQLite beat sends it every feed_webhook_dispatch_seconds; on
    # PostgreSQL beat sends it after outbox commits and when a dispatch asks for another run,
    # at most once per feed_webhook_dispatch_seconds, and otherwise only every
    # feed_webhook_safety_poll_seconds (sincro.beat).
    feed_webhook_dispatch_seconds: float = Field(default=1.0, gt=0)
    feed_webhook_safety_poll_seconds: float = Field(default=30.0, gt=0)

    # --- customers' CSV imports on the workers (queue `imports`; sincro.customers.jobs) ---
    # a run's lease, renewed with every batch; a run silent this long is taken over
    customers_import_lease_seconds: float = Field(default=120.0, ge=5)
    customers_import_max_attempts: int = Field(default=5, ge=1, le=100)  # runs, then failed
    customers_import_sweep_seconds: float = Field(default=60.0, gt=0)  # beat: resend, give up
    # an import without progress this long is failed and its stored upload deleted
    customers_import_abandon_hours: float = Field(default=24.0, gt=0)
    # --- assistant channels: the sweep that re-queues replies the broker never took ---
    assistant_channel_redeliver_every_seconds: float = Field(default=300.0, ge=30)

    @field_validator("billing_overdue_days", mode="before")
    @classmethod
    def _split_overdue_days(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()]
        return value

    @field_validator("billing_overdue_days")
    @classmethod
    def _overdue_days(cls, value: list[int]) -> list[int]:
        if not value or len(value) > 12 or any(not 1 <= d <= 365 for d in value):
            raise ValueError("1 to 12 day counts between 1 and 365, e.g. 1,7,15,30")
        return sorted(set(value))

    @field_validator("console_time_zone", "reports_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not is_zone(value):
            raise ValueError(f"unknown time zone {value!r}, e.g. America/Manaus")
        return value

    @field_validator("feed_webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @model_validator(mode="after")
    def _fill_embedded_urls(self) -> Settings:
        if self.feed_webhook_allow_http is None:
            self.feed_webhook_allow_http = self.mode == "embedded"
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.var_dir / 'sincro.sqlite').as_posix()}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{(self.var_dir / 'broker.sqlite').as_posix()}"
        if self.mode == "production" and (
            self.secret_key in ("", DEFAULT_SECRET) or len(self.secret_key) < MIN_SECRET_LENGTH
        ):
            raise ValueError(
                "SINCRO_SECRET_KEY must be set to a private value of at least "
                f"{MIN_SECRET_LENGTH} characters when SINCRO_MODE=production"
            )
        if self.secret_key == DEFAULT_SECRET and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                "SINCRO_SECRET_KEY is the published development secret: it is refused on a "
                f"non-loopback address ({self.host}); unset it to use a generated one"
            )
        if not self.secret_key:
            self.secret_key = embedded_secret(self.var_dir)
        if self.connectors_file is None and self.mode == "embedded":
            self.connectors_file = recorded_connectors_file(self.var_dir)
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad entry
        return value

    @property
    def metrics_exposure(self) -> str:
        """Who may read ``/metrics``: the setting, else public embedded, loopback production."""
        if self.metrics_access is not None:
            return self.metrics_access
        return "loopback" if self.mode == "production" else "public"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.startswith(("amqp", "pyamqp"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    return settings


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
