"""Automation's errors (rendered by the kernel's error handler)."""

from __future__ import annotations

from sincro.errors import InvalidInput, NotFound


class RuleNotFound(NotFound):
    code = "rule_not_found"


class UnsuitableTemplate(InvalidInput):
    """The template is not a marketing template, or needs variables offers do not give."""

    code = "unsuitable_template"
