"""Availability snapshots shared by every api replica through Redis (production).

A snapshot is stored as a small JSON header (SKU, product, location-directory fingerprint,
watermark, next hold expiry) followed by its raw arrays. A replica that misses its own cache
takes the shared copy if it was built for the same set of locations and no hold on it has
expired since, then catches up from the outbox past the watermark.
"""

from __future__ import annotations

import struct
import time
from array import array
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sincro.catalog.service import LocationDirectory
    from sincro.inventory.availability import SkuSnapshot

HEADER = struct.Struct("!I")
COLUMNS = (
    ("available", "i"),
    ("on_hand", "i"),
    ("reserved", "i"),
    ("version", "i"),
    ("as_of", "d"),
)


def encode(snap: SkuSnapshot) -> bytes:
    header = orjson.dumps(
        {
            "sku": snap.sku,
            "product_id": snap.product_id,
            "name": snap.name,
            "fingerprint": snap.directory.fingerprint,
            "watermark": snap.watermark,
            "next_expiry": snap.next_expiry,
        }
    )
    body = b"".join(getattr(snap, name).tobytes() for name, _ in COLUMNS)
    return HEADER.pack(len(header)) + header + body


def decode(blob: bytes, directory: LocationDirectory) -> SkuSnapshot | None:
    """The snapshot, or None when it was built for other locations or a hold has expired."""
    from sincro.inventory.availability import SkuSnapshot

    (size,) = HEADER.unpack_from(blob)
    header: dict[str, Any] = orjson.loads(blob[HEADER.size : HEADER.size + size])
    if header["fingerprint"] != directory.fingerprint:
        return None
    if header["next_expiry"] is not None and time.time() >= header["next_expiry"]:
        return None
    snap = SkuSnapshot(header["sku"], header["product_id"], header["name"], directory)
    offset, count = HEADER.size + size, len(directory.places)
    for name, code in COLUMNS:
        column = array(code)
        width = column.itemsize * count
        column.frombytes(blob[offset : offset + width])
        setattr(snap, name, column)
        offset += width
    snap.next_expiry = header["next_expiry"]
    snap.watermark = header["watermark"]
    return snap


class SharedSnapshots:
    """Snapshot blobs in Redis under ``<prefix>snap:<sku>`` with a time to live."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix

    def get(self, sku: str, directory: LocationDirectory) -> SkuSnapshot | None:
        blob = self.client.get(f"{self.prefix}snap:{sku}")
        return decode(blob, directory) if blob else None

    def put(self, snap: SkuSnapshot, ttl_seconds: float) -> None:
        self.client.set(f"{self.prefix}snap:{snap.sku}", encode(snap), ex=max(1, int(ttl_seconds)))
