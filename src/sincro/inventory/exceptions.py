from __future__ import annotations

from typing import Any

from sincro.errors import Conflict, InvalidInput, NotFound
from sincro.inventory.models import MAX_LEVEL


class UnknownSku(NotFound):
    code = "unknown_sku"


class UnknownLocation(NotFound):
    code = "unknown_location"


class InsufficientStock(Conflict):
    """Raised once per request, listing every short line."""

    code = "insufficient_stock"

    def __init__(self, short_lines: list[dict[str, Any]]) -> None:
        lines = ", ".join(
            f"{s['sku']}@{s.get('location') or 'online'} wants {s['requested']}, "
            f"has {s['available']}"
            for s in short_lines
        )
        # the first short line's own field (movements[3].quantity) when the caller knows it
        field = short_lines[0].get("field", "lines") if short_lines else "lines"
        super().__init__(f"insufficient stock: {lines}", field=field, details=short_lines)


class VersionMismatch(Conflict):
    code = "version_mismatch"

    def __init__(self, current_version: int) -> None:
        super().__init__(
            f"stock level changed: current version is {current_version}",
            field="If-Match",
            details=[{"current_version": current_version}],
            headers={"ETag": f'"{current_version}"'},
        )
        self.current_version = current_version


class ReservationNotFound(NotFound):
    code = "reservation_not_found"


class ReservationClosed(Conflict):
    code = "reservation_closed"


class LevelLimitExceeded(InvalidInput):
    """A movement would take a bucket past ``MAX_LEVEL`` (the bound PUT enforces on counts)."""

    code = "level_limit_exceeded"

    def __init__(self, field: str, sku: str, location: str, bucket: str, current: int) -> None:
        super().__init__(
            f"{sku}@{location} {bucket} has {current}; a level holds at most {MAX_LEVEL} units",
            field=field,
            details=[{"field": field, "sku": sku, "location": location, "current": current}],
        )
