"""The demo's shoppers: purchases through the public API, following the demand model.

``sincro simulate shop`` (started by ``make demo``) draws purchase events at ``rate`` a second:
which SKU by today's expected national demand of each (:mod:`sincro.demo.demand`, the model
the two years of history came from), online or at a store by the model's online share, which
store by its weight. An online purchase reserves one unit through ``POST /v1/reservations``
(the e-commerce key; the allocation picks the shipping location), then after a short while
commits it, or abandons it (releases) like a real cart; a till sale posts a ``sale`` movement
through ``POST /v1/movements`` (a tills key, one ``Idempotency-Key`` per sale). A 409 (not
enough stock) is a lost sale: stock-outs happen because the ERP simulator only replenishes on
its reorder policy. Actuals keep arriving for the forecast monitor, and the console's feed
shows real purchase traffic.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from sincro.demo.catalog import generate_products
from sincro.demo.cities import CITIES
from sincro.demo.demand import ONLINE_SHARE, DemandModel, store_weights
from sincro.demo.operator import generate_locations

log = logging.getLogger("sincro.simulators.shop")
ABANDON_SHARE = 0.15
CHECKOUT_SECONDS = (1.0, 8.0)  # how long a cart stays reserved before commit or abandon


@dataclass
class ShopStats:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, what: str) -> None:
        self.counts[what] += 1


class ShopSimulator:
    """Draws and sends purchase events; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        base_url: str,
        shop_key: str,
        tills_key: str,
        *,
        rate: float = 2.0,
        products: int = 1000,
        stores: int = 1800,
        dcs: int = 10,
        seed: int = 7,
        today: dt.date | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.rng = random.Random(seed)
        catalog = generate_products(count=products, seed=seed)
        self.skus = [p.sku for p in catalog]
        day = today or dt.date.today()
        model = DemandModel(catalog, day, 1, seed)
        demand = np.array([model.sku(i).rate[0] for i in range(len(catalog))])
        self.sku_weights = (demand / demand.sum()).tolist() if demand.sum() > 0 else None
        locations = generate_locations(stores=stores, dcs=dcs, seed=seed)
        shops = [loc for loc in locations if loc.kind == "store"]
        population = {(c.name, c.state): c.population_k for c in CITIES}
        self.stores = [s.code for s in shops]
        weights = store_weights([population.get((s.city, s.state), 50) for s in shops])
        self.store_weights = weights.tolist()
        self.client = client or httpx.Client(base_url=base_url, timeout=10.0)
        self.shop_headers = {"X-API-Key": shop_key}
        self.tills_headers = {"X-API-Key": tills_key}
        self.stats = ShopStats()
        self._carts: list[tuple[float, str, bool]] = []  # (due, reservation id, commit?)
        self._lock = threading.Lock()

    def _sku(self) -> str:
        return self.rng.choices(self.skus, weights=self.sku_weights)[0]

    def step(self) -> str:
        """One purchase event; returns what happened (for the stats)."""
        sku = self._sku()
        if self.rng.random() < ONLINE_SHARE:
            return self._online(sku)
        return self._till(sku)

    def _online(self, sku: str) -> str:
        response = self.client.post(
            "/v1/reservations",
            json={"lines": [{"sku": sku, "qty": 1}], "ttl_seconds": 120},
            headers=self.shop_headers,
        )
        if response.status_code == 409:
            return "online_lost"
        if response.status_code != 201:
            log.warning("reservation refused: %s %s", response.status_code, response.text[:200])
            return "online_error"
        due = time.monotonic() + self.rng.uniform(*CHECKOUT_SECONDS)
        commit = self.rng.random() >= ABANDON_SHARE
        with self._lock:
            self._carts.append((due, response.json()["id"], commit))
        return "online_reserved"

    def _till(self, sku: str) -> str:
        store = self.rng.choices(self.stores, weights=self.store_weights)[0]
        response = self.client.post(
            "/v1/movements",
            json={"movements": [{"sku": sku, "location": store, "quantity": -1, "reason": "sale"}]},
            headers={**self.tills_headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        if response.status_code == 409:
            return "store_lost"
        if response.status_code >= 300:
            log.warning("till sale refused: %s %s", response.status_code, response.text[:200])
            return "store_error"
        return "store_sold"

    def checkout_due(self, now: float | None = None) -> int:
        """Commit or abandon the carts whose time has come; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            due = [c for c in self._carts if c[0] <= now]
            self._carts = [c for c in self._carts if c[0] > now]
        for _, reservation_id, commit in due:
            action = "commit" if commit else "release"
            response = self.client.post(
                f"/v1/reservations/{reservation_id}/{action}", headers=self.shop_headers
            )
            ok = response.status_code == 200
            self.stats.add(
                f"online_{'committed' if commit else 'abandoned'}" if ok else "online_expired"
            )
        return len(due)

    def run(self, stop: threading.Event, report_every: float = 30.0) -> None:
        """Send events at ``rate`` a second (Poisson arrivals) until ``stop`` is set."""
        next_report = time.monotonic() + report_every
        while not stop.is_set():
            try:
                self.stats.add(self.step())
                self.checkout_due()
            except httpx.HTTPError as exc:
                self.stats.add("unreachable")
                log.warning("api unreachable: %s", exc)
                stop.wait(2.0)
            if time.monotonic() >= next_report:
                log.info("shop simulator", extra={"counts": dict(self.stats.counts)})
                next_report += report_every
            stop.wait(self.rng.expovariate(self.rate))
        self.checkout_due(now=float("inf"))

    def close(self) -> None:
        self.client.close()


def summary(stats: ShopStats) -> dict[str, Any]:
    return dict(sorted(stats.counts.items()))
