from __future__ import annotations

from sincro.errors import NotFound


class ReceivableNotFound(NotFound):
    """No receivable with that id (or none linked to a customer)."""
