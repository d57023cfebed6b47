"""Customers' errors (rendered by the kernel's one handler)."""

from __future__ import annotations

from sincro.errors import InvalidInput, NotFound


class CustomerNotFound(NotFound):
    code = "customer_not_found"

    def __init__(self, customer_id: int) -> None:
        super().__init__(f"no customer {customer_id}", field="customer_id")


class ImportNotFound(NotFound):
    code = "import_not_found"

    def __init__(self, import_id: int) -> None:
        super().__init__(f"no customer import {import_id}", field="import_id")


class SuppressionNotFound(NotFound):
    code = "suppression_not_found"

    def __init__(self) -> None:
        super().__init__("no such suppression", field="suppression_id")


class UnreadableFile(InvalidInput):
    """A CSV the importer cannot read at all (encoding, no header, required columns)."""

    code = "unreadable_file"
