"""The embedded broker (Celery's SQLAlchemy transport on a SQLite file) made safe for several
processes declaring the same queue at once.

kombu's transport creates a queue's row with a query-then-insert guarded by a lock that is
per process only; when ``sincro serve`` starts the worker and beat together on a fresh broker
file, both insert ``default`` and the loser dies with ``UNIQUE constraint failed:
kombu_queue.name`` (the supervisor restarts it, a test that starts them together fails).
:func:`install` wraps the channel's ``_get_or_create`` so that a lost race reads the row the
winner made. Applied once, by :mod:`sincro.worker`, in every process that uses Celery; the
RabbitMQ transport of production is untouched."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    try:
        from kombu.transport.sqlalchemy import Channel
    except ImportError:  # kombu without its SQLAlchemy transport: nothing to make safe
        return
    original = Channel._get_or_create

    def get_or_create(self: Any, queue: str) -> Any:
        try:
            return original(self, queue)
        except IntegrityError:  # another process created it between our read and insert
            self.session.rollback()
            found = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
            if found is None:
                raise
            return found

    setattr(Channel, "_get_or_create", get_or_create)  # noqa: B010 (a method, patched)
    _installed = True
