"""Every audit action recorded anywhere in the source has a pt-BR label for "Auditoria"."""

from __future__ import annotations

import ast
from pathlib import Path

import sincro
from sincro.domains import audit_action_labels
from sincro.messaging.service import TRANSITIONS

SOURCE = Path(sincro.__file__).parent
RECORDERS = {"record", "_audit"}  # audit.record and the helpers that pass an action through


def _actions_in(node: ast.AST) -> set[str]:
    """String constants shaped like ``entity.verb`` (or ``domain.entity.verb``) in ``node``
    (both arms of a conditional)."""
    return {
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and "." in n.value
        and all(part.replace("_", "").isalpha() for part in n.value.split("."))
    }


def recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assigned: dict[str, ast.AST] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id == "action":
                    assigned[target.id] = node.value
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name not in RECORDERS:
                continue
            action = node.args[2] if len(node.args) > 2 else None
            for keyword in node.keywords:
                if keyword.arg == "action":
                    action = keyword.value
            if isinstance(action, ast.Name) and action.id in assigned:
                action = assigned[action.id]
            if action is not None:
                found |= _actions_in(action)
    return found


def test_every_recorded_action_has_a_label() -> None:
    actions = recorded_actions() | {f"campaign.{verb}" for verb in TRANSITIONS}
    assert {"key.create", "customer.merge", "price.set", "campaign.cancel"} <= actions
    missing = sorted(actions - set(audit_action_labels()))
    assert missing == [], f"audit actions without a pt-BR label in any domain.py: {missing}"
