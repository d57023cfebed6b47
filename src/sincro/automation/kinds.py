"""The vocabulary of interests, and which intent of the assistant makes which (no imports:
the customers domain's segments read it too).

- ``disponibilidade_produto``, ``informacao_produto`` → ``product`` (ref: each SKU named),
  else ``category`` (the category named); plus ``back_in_stock`` (the SKU) with a wish in the
  one wish list when the product is not available near the customer;
- ``planos_ofertas`` → ``plan_upgrade`` (the plan named, ``""`` when none);
- ``cancelamento`` → ``cancellation_risk`` (the plan named, ``""`` when none);
- every other intent → none.
"""

from __future__ import annotations

from typing import Literal

PRODUCT = "product"
CATEGORY = "category"
PLAN_UPGRADE = "plan_upgrade"
BACK_IN_STOCK = "back_in_stock"
CANCELLATION_RISK = "cancellation_risk"
KINDS: tuple[str, ...] = (PRODUCT, CATEGORY, PLAN_UPGRADE, BACK_IN_STOCK, CANCELLATION_RISK)
Kind = Literal["product", "category", "plan_upgrade", "back_in_stock", "cancellation_risk"]

KIND_LABELS_PT = {
    PRODUCT: "Produto",
    CATEGORY: "Categoria",
    PLAN_UPGRADE: "Troca de plano",
    BACK_IN_STOCK: "Volta ao estoque",
    CANCELLATION_RISK: "Risco de cancelamento",
}

PRODUCT_INTENTS = frozenset({"disponibilidade_produto", "informacao_produto"})
PLAN_INTENTS = frozenset({"planos_ofertas"})
CANCEL_INTENTS = frozenset({"cancelamento"})
