"""Field types shared by request models: text that no control character may enter.

NUL cannot be stored by PostgreSQL (a 500 before this type existed) and the other C0 controls
and DEL only ever come from a broken or hostile client, so free-text fields (references, names,
order numbers) refuse them with a 422 naming the field. The pattern is also published in the
OpenAPI schema, so clients and the fuzzer know the rule.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# Integer primary keys are 32-bit on PostgreSQL: a larger id in a path or query is refused
# (422) before it reaches the database, where it would overflow (a 500).
MAX_ROW_ID = 2**31 - 1
# Outbox sequence numbers are BIGINT.
MAX_SEQUENCE = 2**63 - 1

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def refuse_control_characters(value: str) -> str:
    """``value`` unchanged, or a ValueError naming the first control character's position."""
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise ValueError(
            f"must not contain control characters (U+{ord(found.group()):04X} at {found.start()})"
        )
    return value


PlainText = Annotated[
    str,
    AfterValidator(refuse_control_characters),
    Field(json_schema_extra={"pattern": NO_CONTROL_PATTERN}),
]
