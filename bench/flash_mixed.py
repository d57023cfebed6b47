"""Mixed flash-sale load (issue #12): 3,000 connections for 60 s, each request picked at random
as 90 % availability reads, 9 % reservations and 1 % commits or releases, next to the floor
(``GET /health`` through the app's middleware, same connections, same wrk script, same run).

The load generator is wrk with a Lua script (a C client, its CPU is reported next to the
api's). Per request:

* 90 % ``GET /v1/availability/{sku}`` of a random SKU of the catalogue, a quarter of them with
  ``?location=`` a random store;
* 9 % ``POST /v1/reservations`` of 1 unit of one of ``--hot`` SKUs at one store, each with its
  own ``Idempotency-Key``; the hot levels first receive ``--stock`` units each (a ``receipt``
  movement through the API), far more than 60 s can hold, so no reservation is short;
* 1 % ``POST /v1/reservations/{id}/commit`` or ``/release`` (half each) of a reservation id
  the same wrk thread read from an earlier 201 body; each id is used once, so neither can
  meet a closed reservation (409). Without an id in hand the request is a read instead.

wrk's ``response()`` gets no request context, and one thread's connections answer out of
order, so a per-thread queue of sent kinds would misattribute answers. Answers are counted by
status and body instead: 201 is a reservation (its ``id`` is queued), a 200 with
``online_available`` a read, a 200 with ``"status":"committed"``/``"released"`` a commit or a
release; a non-2xx is counted by status and error code (``insufficient_stock`` is a
reservation's, ``reservation_*`` a commit's or release's, ``unknown_*`` a read's). A code any
kind may answer (``database_unavailable``, ``rate_limited``) names no kind, so the api's own
request counter (``sincro_http_request_duration_seconds_count`` by route template and status,
summed over its processes by ``/metrics``) is read before and after the run: its difference
is every answer by kind and status, ``answers_by_kind`` (the api's view: it counts answers
wrk did not read before it stopped, too). Requests
sent per kind are counted in ``request()``; sent minus answered is what was in flight when
wrk stopped (or lost to a socket error): those may have been applied, so the database check
is ``answered <= rows <= sent`` per kind.

The api's own timing of each kind (``server_latency``: the same histogram's buckets, from the
request reaching the application to its answer) says whether a slow request was slow inside
the api or waited before it; ``api_log_warnings`` keeps what the api logged as a warning or
error meanwhile. ``--profile DIR`` runs py-spy on each api process for 8 s, from 15 s into
the mix (raw collapsed stacks, ``--gil``).

Pass: no socket error, timeout or non-2xx, p99 within 2x the floor's, ``sincro inventory
verify`` exits 0, and the database agrees with what wrk read (reservations, commits, releases).

Full scale (each run makes its own database and api; nothing else should run meanwhile):

    python -m bench.flash_mixed --db sqlite --connections 3000 --seconds 60 --workers 2
    python -m bench.flash_mixed --db postgresql --connections 3000 --seconds 60 --workers 2

Smoke: ``--connections 50 --seconds 5 --warm 10 --settle 2``.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bench.availability import warm_up
from bench.harness import (
    ApiServer,
    add_redis_argument,
    emit,
    fresh_database,
    list_skus,
    list_stores,
    log,
    machine_info,
    preflight,
    query_rows,
    redis_settings,
)
from bench.reservation_storm import _levels, _profile, _wrk

READ, RESERVE, CLOSE = 0.90, 0.09, 0.01  # the mix
_LUA = """
local hot = {}
for line in io.lines("%(skus)s") do hot[#hot + 1] = line end
local skus = {}
for line in io.lines("%(all_skus)s") do skus[#skus + 1] = line end
local stores = {}
for line in io.lines("%(stores)s") do stores[#stores + 1] = line end
local location = "%(location)s"
local key = "%(key)s"
local variant = "%(variant)s"
local run = "%(run)s"
local close_share, reserve_share = %(close_share)s, %(reserve_share)s
local location_share = %(location_share)s

local counter = 1
local threads = {}
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local read_headers = {["X-API-Key"] = key}
local post_headers = {["X-API-Key"] = key, ["Content-Type"] = "application/json"}
local ids, head, tail, n = {}, 1, 0, 0
sent_read, sent_reserve, sent_commit, sent_release, fallback = 0, 0, 0, 0, 0
ok_read, ok_reserve, ok_commit, ok_release, ok_other, no_id = 0, 0, 0, 0, 0, 0
bad = {}

function init(args)
  math.randomseed(os.time() * 1000 + tid)
end

local function read()
  sent_read = sent_read + 1
  local path = "/v1/availability/" .. skus[math.random(#skus)]
  if math.random() < location_share then
    path = path .. "?location=" .. stores[math.random(#stores)]
  end
  return wrk.format("GET", path, read_headers)
end

request = function()
  if variant == "floor" then
    return wrk.format("GET", "/health", read_headers)
  end
  n = n + 1
  local r = math.random()
  if r < close_share then
    if head > tail then
      fallback = fallback + 1
      return read()
    end
    local id = ids[head]
    ids[head] = nil
    head = head + 1
    local action = "release"
    if math.random() < 0.5 then
      action = "commit"
      sent_commit = sent_commit + 1
    else
      sent_release = sent_release + 1
    end
    return wrk.format("POST", "/v1/reservations/" .. id .. "/" .. action, post_headers, "")
  elseif r < close_share + reserve_share then
    sent_reserve = sent_reserve + 1
    local body = '{"lines":[{"sku":"' .. hot[math.random(#hot)] .. '","qty":1,"location":"'
      .. location .. '"}],"ttl_seconds":3600}'
    return wrk.format("POST", "/v1/reservations", {["X-API-Key"] = key,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = "mixed-" .. run .. "-" .. tid .. "-" .. n}, body)
  end
  return read()
end

response = function(status, headers, body)
  if status == 201 then
    ok_reserve = ok_reserve + 1
    local id = string.match(body, '"id":%%s*"([^"]+)"')
    if id then
      tail = tail + 1
      ids[tail] = id
    else
      no_id = no_id + 1
    end
  elseif status == 200 then
    if string.find(body, '"online_available"', 1, true) then
      ok_read = ok_read + 1
    elseif string.find(body, '"status":%%s*"committed"') then
      ok_commit = ok_commit + 1
    elseif string.find(body, '"status":%%s*"released"') then
      ok_release = ok_release + 1
    else
      ok_other = ok_other + 1
    end
  else
    local code = string.match(body, '"code":%%s*"([^"]+)"') or "-"
    local k = status .. " " .. code
    bad[k] = (bad[k] or 0) + 1
  end
end

local names = {"sent_read", "sent_reserve", "sent_commit", "sent_release", "fallback",
  "ok_read", "ok_reserve", "ok_commit", "ok_release", "ok_other", "no_id"}

function done(summary, latency, requests)
  local totals, statuses = {}, {}
  for _, name in ipairs(names) do totals[name] = 0 end
  for _, t in ipairs(threads) do
    for _, name in ipairs(names) do totals[name] = totals[name] + (t:get(name) or 0) end
    for k, v in pairs(t:get("bad") or {}) do statuses[k] = (statuses[k] or 0) + v end
  end
  local counts = {}
  for _, name in ipairs(names) do
    counts[#counts + 1] = string.format('"%%s": %%d', name, totals[name])
  end
  local bads = {}
  for k, v in pairs(statuses) do bads[#bads + 1] = string.format('"%%s": %%d', k, v) end
  local f = io.open("%(out)s", "w")
  local e = summary.errors
  f:write(string.format(
    '{"requests": %%d, "duration_us": %%d, "counts": {%%s}, "non_2xx": {%%s},'
    .. ' "errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d},'
    .. ' "latency_us": {"mean": %%.1f, "p50": %%d, "p90": %%d, "p99": %%d, "p999": %%d,'
    .. ' "max": %%d}}',
    summary.requests, summary.duration, table.concat(counts, ", "), table.concat(bads, ", "),
    e.connect, e.read, e.write, e.status, e.timeout, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
  f:close()
end
"""

# the api's route templates of each kind (the request metric's ``route`` label)
_KIND_OF_ROUTE = {
    ("GET", "/v1/availability/{sku}"): "read",
    ("POST", "/v1/reservations"): "reserve",
    ("POST", "/v1/reservations/{reservation_id}/commit"): "commit",
    ("POST", "/v1/reservations/{reservation_id}/release"): "release",
}
_ANSWERS = "sincro_http_request_duration_seconds"

# whose error a non-2xx is, by its error code (the body names no request)
_KIND_OF_CODE = {
    "insufficient_stock": "reserve",
    "reservation_closed": "commit_or_release",
    "reservation_not_found": "commit_or_release",
    "unknown_sku": "read",
    "unknown_location": "read",
}


def raise_nofile(connections: int) -> dict[str, int]:
    """Raise this process's soft open-files limit to the hard one (wrk and the api inherit
    it); fail early if even the hard limit cannot hold the connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    new_soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if new_soft != resource.RLIM_INFINITY and new_soft < connections + 256:
        raise SystemExit(f"ulimit -n {new_soft} (hard {hard}) cannot hold {connections} sockets")
    return {"soft_before": soft, "soft": new_soft, "hard": hard}


def process_nofile(pids: list[int]) -> dict[int, int]:
    """The soft open-files limit of each process (``Max open files`` in /proc/<pid>/limits)."""
    out = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
                if line.startswith("Max open files"):
                    value = line.split()[3]
                    out[pid] = -1 if value == "unlimited" else int(value)
        except OSError:
            continue
    return out


def stock_up(server: ApiServer, key: str, skus: list[str], location: str, qty: int) -> None:
    """A receipt of ``qty`` units of every hot SKU at ``location``, through the API."""
    movements = [
        {"sku": sku, "location": location, "quantity": qty, "reason": "receipt"} for sku in skus
    ]
    with httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}, timeout=60) as c:
        r = c.post(
            "/v1/movements",
            json={"movements": movements},
            headers={"Idempotency-Key": f"flash-mixed-stock-{secrets.token_hex(4)}"},
        )
        r.raise_for_status()


def _run_wrk(
    server: ApiServer,
    key: str,
    variant: str,
    *,
    hot: list[str],
    skus: list[str],
    stores: list[str],
    location: str,
    connections: int,
    threads: int,
    seconds: int,
    location_share: float,
) -> dict[str, Any]:
    lists = Path(tempfile.mkdtemp(prefix="sincro-mixed-"))
    try:
        (lists / "skus.txt").write_text("\n".join(skus) + "\n")
        (lists / "stores.txt").write_text("\n".join(stores) + "\n")
        values = {
            "all_skus": lists / "skus.txt",
            "stores": lists / "stores.txt",
            "run": secrets.token_hex(4),
            "close_share": CLOSE,
            "reserve_share": RESERVE,
            "location_share": location_share,
        }
        raw = _wrk(server, key, hot, location, variant, connections, threads, seconds,
                   lua=_LUA, values=values)  # fmt: skip
    finally:
        shutil.rmtree(lists, ignore_errors=True)
    raw["command"] = raw["command"].replace(
        f"<{variant} script>", f"<{variant} script from bench/flash_mixed.py>"
    )
    return raw


def scrape(server: ApiServer, attempts: int = 3) -> str | None:
    """The api's ``/metrics`` text (summed over its processes); None when it did not answer
    (an api still draining wrk's last requests on a loaded machine may take long)."""
    for attempt in range(attempts):
        try:
            return httpx.get(f"{server.base_url}/metrics", timeout=60).text
        except httpx.HTTPError as exc:
            log(f"  /metrics did not answer ({exc!r}), attempt {attempt + 1} of {attempts}")
    return None


def _samples(text: str, wanted: Callable[[str], bool]) -> Iterator[tuple[str, Sample]]:
    """The samples of a :func:`scrape` whose name is ``wanted``, each with its family's name."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if wanted(sample.name):
                yield family.name, sample


def answers(text: str | None) -> dict[tuple[str, str, str], float] | None:
    """The api's answers so far by (method, route template, status), from a :func:`scrape`."""
    if text is None:
        return None
    out: dict[tuple[str, str, str], float] = {}
    for _, sample in _samples(text, f"{_ANSWERS}_count".__eq__):
        labels = sample.labels
        out[labels["method"], labels["route"], labels["status"]] = sample.value
    return out


def _buckets(text: str | None) -> dict[tuple[str, float], float] | None:
    """Cumulative latency bucket counts by (kind, upper bound in s), every status summed."""
    if text is None:
        return None
    out: dict[tuple[str, float], float] = {}
    for _, sample in _samples(text, f"{_ANSWERS}_bucket".__eq__):
        kind = _KIND_OF_ROUTE.get((sample.labels["method"], sample.labels["route"]))
        if kind is not None:
            key = (kind, float(sample.labels["le"]))
            out[key] = out.get(key, 0.0) + sample.value
    return out


def fast_paths(before: str | None, after: str | None) -> dict[str, dict[str, int]] | None:
    """Between two scrapes, what each fast route answered itself or handed to the documented
    route (``sincro_*_fast_path_total`` by decision): a read handed over goes through the
    whole stack."""
    if before is None or after is None:
        return None

    def counts(text: str) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        for family, sample in _samples(text, lambda name: name.endswith("_fast_path_total")):
            key = (family, sample.labels.get("decision", ""))
            found[key] = found.get(key, 0.0) + sample.value
        return found

    first, last = counts(before), counts(after)
    out: dict[str, dict[str, int]] = {}
    for (family, decision), value in sorted(last.items()):
        out.setdefault(family, {})[decision] = int(value - first.get((family, decision), 0.0))
    return out


def server_latency(before: str | None, after: str | None) -> dict[str, Any] | None:
    """Per kind, what the api itself timed between two scrapes (from the request's arrival
    at the application to its answer: not the time a request waited in a socket or for the
    event loop, which wrk's latency includes): the requests, those over 0.25 s, 1 s and
    2.5 s, and the smallest bucket bound that holds 99 % of them."""
    first, last = _buckets(before), _buckets(after)
    if first is None or last is None:
        return None
    out: dict[str, Any] = {}
    for kind in sorted({k for k, _ in last}):
        bounds = sorted(b for k, b in last if k == kind)
        within = {b: last[kind, b] - first.get((kind, b), 0.0) for b in bounds}
        total = within[math.inf]
        if total <= 0:
            continue
        p99 = next(b for b in bounds if within[b] >= 0.99 * total)
        out[kind] = {
            "requests": int(total),
            "over_250ms": int(total - within.get(0.25, total)),
            "over_1s": int(total - within.get(1.0, total)),
            "over_2_5s": int(total - within.get(2.5, total)),
            "p99_at_most_s": None if math.isinf(p99) else p99,
        }
    return out


def answers_by_kind(
    before: dict[tuple[str, str, str], float] | None,
    after: dict[tuple[str, str, str], float] | None,
) -> dict[str, dict[str, int]] | None:
    """What the api answered between two :func:`answers`, by kind and status (``other``: a
    route that is none of the mix's, ``METHOD route`` named with each status); None when
    either count is missing."""
    if before is None or after is None:
        return None
    out: dict[str, dict[str, int]] = {}
    for (method, route, status), count in after.items():
        n = int(count - before.get((method, route, status), 0))
        if n <= 0:
            continue
        kind = _KIND_OF_ROUTE.get((method, route))
        label = status if kind else f"{method} {route} {status}"
        bucket = out.setdefault(kind or "other", {})
        bucket[label] = bucket.get(label, 0) + n
    return out


def _summary(raw: dict[str, Any]) -> dict[str, Any]:
    """What both measurements report: rate, latency, socket errors, CPU."""
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "requests_per_second": round(raw["requests"] / seconds, 1),
        "socket_errors": {k: v for k, v in errors.items() if k != "status"},
        "timeouts": errors["timeout"],
        "non_2xx": errors["status"],
        "latency_ms": {k: round(v / 1000, 2) for k, v in raw["latency_us"].items()},
        "cpu": raw["cpu"],
        "command": raw["command"],
    }


def _per_kind(raw: dict[str, Any]) -> dict[str, Any]:
    counts, seconds = raw["counts"], raw["duration_us"] / 1e6
    non_2xx: dict[str, dict[str, int]] = {}
    for status_code, n in raw["non_2xx"].items():
        kind = _KIND_OF_CODE.get(status_code.split(" ", 1)[1], "unknown")
        non_2xx.setdefault(kind, {})[status_code] = n
    kinds = {
        "read": ("sent_read", "ok_read"),
        "reserve": ("sent_reserve", "ok_reserve"),
        "commit": ("sent_commit", "ok_commit"),
        "release": ("sent_release", "ok_release"),
    }
    out: dict[str, Any] = {
        kind: {
            "sent": counts[sent],
            "ok": counts[ok],
            "ok_per_second": round(counts[ok] / seconds, 1),
        }
        for kind, (sent, ok) in kinds.items()
    }
    sent = sum(counts[s] for s, _ in kinds.values())
    out["reads_instead_of_close_no_id_yet"] = counts["fallback"]
    out["ok_unrecognised_200"] = counts["ok_other"]
    out["created_without_id"] = counts["no_id"]
    out["non_2xx_by_kind"] = non_2xx
    out["sent_total"] = sent
    # built by request() minus answered: in flight (or not yet written) when wrk stopped,
    # or lost to a socket error
    out["unanswered"] = sent - raw["requests"]
    out["share_sent"] = {k: round(out[k]["sent"] / max(1, sent), 4) for k in kinds}
    return out


def _database_check(url: str, per_kind: dict[str, Any]) -> dict[str, Any]:
    rows = query_rows(url, "SELECT status, count(*) FROM reservations GROUP BY status")
    by_status = {str(s): int(n) for s, n in rows}
    stored = {
        "reserve": sum(by_status.values()),
        "commit": by_status.get("committed", 0),
        "release": by_status.get("released", 0),
    }
    return {
        "reservations_by_status": by_status,
        # every answer wrk read is in the database, and nothing it did not send: requests in
        # flight when wrk stopped were applied but their answers never read
        "agrees_with_wrk": all(
            per_kind[kind]["ok"] <= n <= per_kind[kind]["sent"] for kind, n in stored.items()
        ),
    }


def run(
    server: ApiServer,
    database_url: str,
    key: str,
    skus: list[str],
    stores: list[str],
    *,
    connections: int,
    seconds: int,
    hot: int,
    stock: int,
    threads: int = 2,
    location_share: float = 0.25,
    settle: float = 30,
    warm: float = 120,
    rng: random.Random | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    rng = rng or random.Random(12)
    location = stores[0]
    hot_skus = sorted(rng.sample(skus, hot))
    stock_up(server, key, hot_skus, location, stock)
    before = _levels(database_url, hot_skus, location)
    warmed = warm_up(server, key, skus, stores, warm)
    common = {
        "hot": hot_skus, "skus": skus, "stores": stores, "location": location,
        "connections": connections, "threads": threads, "seconds": seconds,
        "location_share": location_share,
    }  # fmt: skip
    ours = set(server.pids())
    floor_note = preflight("floor GET /health", ours, settle)
    log(f"floor: GET /health, wrk -c{connections}, {seconds} s")
    floor = _summary(_run_wrk(server, key, "floor", **common))
    mixed_note = preflight("mixed flash-sale load", ours, settle)
    log(f"mixed: 90/9/1 over {hot} hot SKUs at {location}, wrk -c{connections}, {seconds} s")
    scraped = scrape(server)
    spies: list[subprocess.Popen[bytes]] = []
    timer = None
    if profile is not None:  # 8 s of py-spy on each api process, from 15 s into the mix
        timer = threading.Timer(15, lambda: spies.extend(_profile(server, profile)))
        timer.start()
    raw = _run_wrk(server, key, "mixed", **common)
    if timer is not None:
        timer.cancel()
    for spy in spies:
        spy.wait(timeout=60)
    rescraped = scrape(server)
    by_kind = answers_by_kind(answers(scraped), answers(rescraped))
    mixed, per_kind = _summary(raw), _per_kind(raw)
    per_kind["answers_by_kind"] = by_kind
    per_kind["server_latency"] = server_latency(scraped, rescraped)
    per_kind["fast_paths"] = fast_paths(scraped, rescraped)
    after = _levels(database_url, hot_skus, location)
    verify = server.cli("inventory", "verify", timeout=1800)
    db_check = _database_check(database_url, per_kind)
    ratio = mixed["latency_ms"]["p99"] / max(0.001, floor["latency_ms"]["p99"])
    errors = sum(mixed["socket_errors"].values()) + mixed["non_2xx"]
    result = {
        "date": machine_info()["date"],
        "commit": machine_info()["git_commit"],
        "connections": connections,
        "seconds": seconds,
        "mix": {"read": READ, "reserve": RESERVE, "commit_or_release": CLOSE},
        "reads_with_location": location_share,
        "hot_skus": hot_skus,
        "location": location,
        "stock_received_per_hot_sku": stock,
        "mixed": {**mixed, "per_kind": per_kind},
        "floor": floor,
        "p99_ratio_to_floor": round(ratio, 2),
        "hot_levels_before": before,  # sku, on_hand, reserved, available
        "hot_levels_after": after,
        "min_available_after": min(r[3] for r in after),
        "database": db_check,
        "verify_exit_code": verify.returncode,
        "verify_output": (verify.stdout + verify.stderr)[-400:],
        "pass": {
            "zero_errors": errors == 0 and per_kind["ok_unrecognised_200"] == 0,
            "p99_within_2x_floor": ratio <= 2.0,
            "verify_ok": verify.returncode == 0,
            "database_agrees": db_check["agrees_with_wrk"],
            # unsettled, the run mixes snapshot loads into the reads: not the steady state
            "warm_up_settled": bool(warmed["settled"]),
        },
        "warm_up": warmed,
        "api_open_files_limit": process_nofile(server.pids()),
        "preflight": {"floor": floor_note, "mixed": mixed_note},
        # what the api complained of (a stalled loop, a slow statement) while it was measured
        "api_log_warnings": [
            line for line in server.log_tail(400).splitlines() if "WARN" in line or "ERROR" in line
        ][-20:],
    }
    log(
        f"  mixed {mixed['requests_per_second']} req/s (read {per_kind['read']['ok_per_second']},"
        f" reserve {per_kind['reserve']['ok_per_second']}, commit"
        f" {per_kind['commit']['ok_per_second']}, release {per_kind['release']['ok_per_second']}"
        f"/s), p99 {mixed['latency_ms']['p99']} ms vs floor {floor['latency_ms']['p99']} ms"
        f" ({ratio:.2f}x), errors {errors}, verify exit {verify.returncode}"
    )
    failed = by_kind and {
        kind: {status: n for status, n in statuses.items() if not status.startswith("2")}
        for kind, statuses in by_kind.items()
    }
    log(f"  non-2xx by kind and status (the api's count): {failed}")
    log(f"  the api's own timing by kind: {per_kind['server_latency']}")
    log(f"  fast paths: {per_kind['fast_paths']}")
    if not warmed["settled"]:
        log("  WARNING: the warm-up did not settle (snapshots still loading): not a steady state")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Mixed flash-sale load with wrk")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--connections", type=int, default=3000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="api processes")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--hot", type=int, default=20, help="SKUs the reservations hold")
    parser.add_argument("--stock", type=int, default=1_000_000, help="units received per hot SKU")
    parser.add_argument("--location-share", type=float, default=0.25)
    parser.add_argument("--settle", type=float, default=30, help="max wait for a quiet machine")
    parser.add_argument("--warm", type=float, default=120, help="max availability warm-up (s)")
    parser.add_argument("--stores", type=int, default=1800)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="write the JSON result here too")
    parser.add_argument("--profile", type=Path, help="py-spy the api processes into this folder")
    add_redis_argument(parser)
    args = parser.parse_args()
    nofile = raise_nofile(args.connections)
    with redis_settings(args.redis_url) as settings:
        _main(args, nofile, settings)


def _main(args: argparse.Namespace, nofile: dict[str, int], settings: dict[str, str]) -> None:
    with (
        fresh_database(args.db, stores=args.stores, products=args.products) as db,
        ApiServer(db.url, workers=args.workers, settings=settings) as server,
    ):
        key = server.create_key()
        out = run(
            server,
            db.url,
            key,
            list_skus(db.url),
            list_stores(db.url),
            connections=args.connections,
            seconds=args.seconds,
            hot=args.hot,
            stock=args.stock,
            threads=args.threads,
            location_share=args.location_share,
            settle=args.settle,
            warm=args.warm,
            profile=args.profile,
        )
        out.update(
            database_kind=args.db,
            workers=args.workers,
            wrk_open_files_limit=nofile,
            arguments=vars(args) | {"out": str(args.out) if args.out else None},
        )
        emit(out, args.out)


if __name__ == "__main__":
    main()
