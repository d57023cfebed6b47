"""The ``json_rest`` kind: a JSON document service pulled with cursor pagination (no
write-back)."""

from __future__ import annotations

from sincro.connectors.rest.config import JsonRestSource
from sincro.connectors.rest.plugin import RestPullSync

JSON_REST = RestPullSync(JsonRestSource, label="REST (JSON)")
