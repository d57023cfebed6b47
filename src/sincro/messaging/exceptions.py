"""Messaging's errors (rendered by the kernel's error handler)."""

from __future__ import annotations

from sincro.errors import Conflict, InvalidInput, NotFound


class TemplateNotFound(NotFound):
    code = "template_not_found"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"


class InvalidTemplate(InvalidInput):
    code = "invalid_template"


class CampaignStateConflict(Conflict):
    code = "campaign_state"


class TemplateKeyTaken(Conflict):
    code = "template_key_taken"
