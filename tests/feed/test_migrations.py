"""Migrations of the feed and kernel tables apply and revert on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from sincro.db import postgres_url
from sincro.migrate import downgrade, upgrade


def tables(url: str) -> set[str]:
    engine = create_engine(postgres_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_feed_cursors_migration_up_and_down(fresh_url: str) -> None:
    upgrade(fresh_url, "0001")
    assert "feed_cursors" not in tables(fresh_url)
    upgrade(fresh_url)
    assert "feed_cursors" in tables(fresh_url)
    engine = create_engine(postgres_url(fresh_url))
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO feed_cursors (name, seq, updated_at) VALUES ('relay:x', :s, :t)"),
            {"s": 2**40, "t": "2026-11-23 10:00:00"},
        )
        assert conn.scalar(text("SELECT seq FROM feed_cursors")) == 2**40
    engine.dispose()
    downgrade(fresh_url, "0001")
    assert "feed_cursors" not in tables(fresh_url)
    upgrade(fresh_url)
    assert "feed_cursors" in tables(fresh_url)


STOCK_EVENT = (
    "INSERT INTO events (sku, location, available, on_hand, reserved, version, cause,"
    " created_at) VALUES ('A-1', 'LJ1', 1, 1, 0, :v, 'receipt', '2026-12-06 10:00:00')"
)


def test_event_topics_migration_keeps_rows_and_the_sequence(fresh_url: str) -> None:
    upgrade(fresh_url, "0008")
    engine = create_engine(postgres_url(fresh_url))
    with engine.begin() as conn:
        for version in (1, 2, 3):
            conn.execute(text(STOCK_EVENT), {"v": version})
        conn.execute(text("DELETE FROM events WHERE version = 3"))  # the sequence is at 3
    upgrade(fresh_url, "0009")
    with engine.begin() as conn:
        conn.execute(text(STOCK_EVENT), {"v": 4})  # the stock writers do not name the topic
        conn.execute(
            text(
                "INSERT INTO events (topic, payload, created_at)"
                " VALUES ('chat.message', :p, '2026-12-06 10:00:01')"
            ),
            {"p": '{"text": "oi"}'},
        )
        rows = conn.execute(text("SELECT seq, topic, sku FROM events ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [
        (1, "stock", "A-1"), (2, "stock", "A-1"), (4, "stock", "A-1"), (5, "chat.message", None)
    ]  # fmt: skip
    downgrade(fresh_url, "0008")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT seq FROM events ORDER BY seq")).scalars().all() == [
            1,
            2,
            4,
        ]
        conn.execute(text(STOCK_EVENT), {"v": 6})
        assert conn.scalar(text("SELECT max(seq) FROM events")) == 6
    engine.dispose()
    upgrade(fresh_url)


def test_audit_log_migration_up_and_down(fresh_url: str) -> None:
    upgrade(fresh_url, "0009")
    assert "audit_log" not in tables(fresh_url)
    upgrade(fresh_url, "0010")
    assert "audit_log" in tables(fresh_url)
    downgrade(fresh_url, "0009")
    assert "audit_log" not in tables(fresh_url)


LEGACY_SUB = (
    "INSERT INTO webhook_subscriptions (url, secret, active, cursor_seq, attempts, created_at)"
    " VALUES (:url, 'whsec_plain', :t, 0, 0, '2026-12-06 10:00:00')"
)


def test_webhook_secrets_migration_keeps_legacy_secrets_and_drops_credentials(
    fresh_url: str,
) -> None:
    upgrade(fresh_url, "0011")
    engine = create_engine(postgres_url(fresh_url))
    with engine.begin() as conn:
        for url in ("https://user:hunter2@hooks.example.com:8443/in?x=1", "https://ok.example/in"):
            conn.execute(text(LEGACY_SUB), {"url": url, "t": True})
    upgrade(fresh_url, "0012")
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT url, legacy_secret, secret_salt FROM webhook_subscriptions ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("https://hooks.example.com:8443/in?x=1", "whsec_plain", None),
        ("https://ok.example/in", "whsec_plain", None),
    ]
    downgrade(fresh_url, "0011")
    with engine.begin() as conn:
        assert (
            conn.scalar(text("SELECT count(*) FROM webhook_subscriptions WHERE secret IS NOT NULL"))
            == 2
        )
    engine.dispose()
