"""Console users take the console's roles (API keys keep theirs)."""

from __future__ import annotations

import pytest

from sincro.access import service as access
from sincro.access.models import CONSOLE_ROLES
from sincro.db import Database
from sincro.errors import InvalidInput


@pytest.mark.parametrize("role", CONSOLE_ROLES)
def test_every_console_role_can_be_given(db: Database, role: str) -> None:
    with db.write() as s:
        user = access.create_user(s, f"{role}@exemplo.com.br", role, "senha-forte-123", role)
    assert user.role == role


def test_an_api_key_role_is_not_a_console_role(db: Database) -> None:
    with db.write() as s, pytest.raises(InvalidInput) as refused:
        access.create_user(s, "x@exemplo.com.br", "X", "senha-forte-123", "channel")
    assert refused.value.field == "role"
