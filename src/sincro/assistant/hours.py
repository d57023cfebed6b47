"""Service hours: when people answer the assistant's handoffs.

Three settings in the operator's zone (``SINCRO_ASSISTANT_TIME_ZONE``): weekdays, Saturday
and Sunday, each ``HH:MM-HH:MM`` or empty (closed that day). Outside them a handoff still
queues the conversation, but the customer is asked to leave a message and the agents' answer
goes out by e-mail (:mod:`sincro.assistant.agents`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sincro.config import Settings
from sincro.db import utcnow

WEEKDAY_NAMES = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


@dataclass(frozen=True, slots=True)
class Window:
    start: dt.time
    end: dt.time  # 24:00 is dt.time.max

    def holds(self, moment: dt.time) -> bool:
        return self.start <= moment < self.end or (self.end == dt.time.max and moment >= self.start)


def _window(text: str) -> Window | None:
    if not text:
        return None
    start, end = text.split("-")
    closing = dt.time.max if end == "24:00" else dt.time.fromisoformat(end)
    return Window(dt.time.fromisoformat(start), closing)


def window_for(settings: Settings, day: dt.date) -> Window | None:
    """The hours of ``day`` (a local date), None when closed."""
    weekday = day.weekday()
    if weekday == 5:
        return _window(settings.assistant_service_hours_saturday)
    if weekday == 6:
        return _window(settings.assistant_service_hours_sunday)
    return _window(settings.assistant_service_hours_weekdays)


def is_open(settings: Settings, now: dt.datetime | None = None) -> bool:
    """Whether people answer now (``now`` in UTC)."""
    local = (now or utcnow()).astimezone(ZoneInfo(settings.assistant_time_zone))
    window = window_for(settings, local.date())
    return window is not None and window.holds(local.time().replace(tzinfo=None))


def next_opening(settings: Settings, now: dt.datetime | None = None) -> dt.datetime | None:
    """The next local moment the service opens (None when it never does)."""
    local = (now or utcnow()).astimezone(ZoneInfo(settings.assistant_time_zone))
    for ahead in range(8):
        day = local.date() + dt.timedelta(days=ahead)
        window = window_for(settings, day)
        if window is None:
            continue
        opening = dt.datetime.combine(day, window.start, tzinfo=local.tzinfo)
        if opening > local:
            return opening
    return None


def opening_phrase(settings: Settings, now: dt.datetime | None = None) -> str:
    """ "amanhã (terça) às 8h" / "hoje às 8h" / "sábado às 9h", for the customer."""
    opening = next_opening(settings, now)
    if opening is None:
        return "no próximo dia útil"
    local_now = (now or utcnow()).astimezone(opening.tzinfo)
    hour = f"{opening.hour}h{opening:%M}".replace("h00", "h")
    days = (opening.date() - local_now.date()).days
    if days == 0:
        return f"hoje às {hour}"
    if days == 1:
        return f"amanhã ({WEEKDAY_NAMES[opening.weekday()]}) às {hour}"
    return f"{WEEKDAY_NAMES[opening.weekday()]} às {hour}"
