"""A file's kind comes from its content whatever its name and encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from sincro.connectors.sap_files.formats import detect_kind

PTBR_SNAPSHOT = (
    "Material;Centro;Depósito;Utilização livre;Qualidade;Bloqueado\r\nX;1001;0001;5;0;0\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
def test_a_renamed_snapshot_with_a_ptbr_header_is_a_snapshot(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "DUP_copia_qualquer.csv"
    path.write_bytes(PTBR_SNAPSHOT.encode(encoding))
    assert detect_kind(path) == "snapshot"


def test_a_long_latin1_snapshot_still_reads_its_header(tmp_path: Path) -> None:
    path = tmp_path / "copia.csv"
    body = PTBR_SNAPSHOT + "Y;1002;0001;7;0;0\r\n" * 5000
    path.write_bytes(body.encode("latin-1"))
    assert detect_kind(path) == "snapshot"
