"""Configuration of a SAP file-drop source (extended by the SAP files work)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SapFilesSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    kind: Literal["sap_files"]
    name: str
    active: bool = True
