"""Running syncs of REST ERP sources: sources and entities in parallel, pages with bounded
concurrency, each page applied in order and in its own transaction.

Rules:

- A page's data, its rejects, the run's counters and the entity's cursor are written in ONE
  transaction, so the cursor never runs ahead of the data (a crash resumes at the last applied
  page; the incremental filter is inclusive and every apply is an upsert, so replays are
  harmless).
- Pages are fetched with up to ``max_concurrency`` requests in flight per entity (numbered
  pages), or one page ahead (cursor pages, whose next token comes from the previous answer),
  while a single thread applies them in order.
- Entities mapped to products run first; then the other entities of the source in parallel.
- A failed run never touches the data already applied: the last good data keeps being served;
  the source's status (ok/degraded/down/stale), data age and last error say how old it is.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sincro import heap
from sincro.config import Settings
from sincro.connectors.alerts import raise_alert, resolve_alerts
from sincro.connectors.config import ConnectorsConfig
from sincro.connectors.models import RunStatus, SyncCursor, SyncReject, SyncRun, SyncSource
from sincro.connectors.resilience import CircuitBreaker, breaker_for
from sincro.connectors.rest.apply import APPLIERS, COLUMN_APPLIERS, ApplyContext
from sincro.connectors.rest.client import Deadline, RestClient, SyncError
from sincro.connectors.rest.config import RestSource
from sincro.connectors.rest.mapping import (
    EntityMapping,
    Mapper,
    MappingFile,
    Reject,
    dig,
    load_mapping,
)
from sincro.customers import service as customers
from sincro.db import Database, database_for, utcnow
from sincro.text_pt import datetime_br

log = logging.getLogger("sincro.connectors.sync")

Progress = Callable[[str, str, int, int | None], None]  # source, entity, done, total


@dataclass
class EntityResult:
    source: str
    entity: str
    run_id: int
    status: str
    records_in: int = 0
    applied: int = 0
    rejected: int = 0
    pages: int = 0
    error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU for the entity (its thread + its fetches)


@dataclass
class SourceResult:
    source: str
    status: str
    entities: list[EntityResult] = field(default_factory=list)


class CpuMeter:
    """CPU seconds of one entity run in this process: the thread that applies its pages, plus
    the fetch threads' time spent on its pages (HTTP, JSON decoding). Thread CPU clocks
    (``time.thread_time``), so entities running side by side in threads are told apart."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self._started = time.thread_time()
        self._elsewhere = 0.0
        self._lock = threading.Lock()

    def add_fetch(self, seconds: float) -> None:
        """Fetch CPU measured in a thread other than the owner's (the owner's own fetches are
        in its thread clock already)."""
        if threading.get_ident() != self.owner:
            with self._lock:
                self._elsewhere += seconds

    def total(self) -> float:
        return time.thread_time() - self._started + self._elsewhere


@dataclass
class Page:
    records: list[Any]
    body: Any
    fetched_at: dt.datetime
    number: int | None = None
    next_cursor: str | None = None
    more: bool = False


class SourceRuntime:
    """What syncing one source needs: its config, mapping, database, breaker and client."""

    def __init__(
        self,
        settings: Settings,
        config: ConnectorsConfig,
        source_code: str,
        db: Database | None = None,
    ) -> None:
        source = config.source(source_code)
        if not isinstance(source, RestSource):
            raise ValueError(f"source {source_code!r} is {source.kind}, not a REST ERP")
        self.settings, self.config, self.source = settings, config, source
        self.db = db or database_for(settings)
        self.mapping: MappingFile = load_mapping(source.mapping_path())
        self.breaker: CircuitBreaker = breaker_for(
            settings.redis_url,
            settings.redis_prefix,
            self.db,
            source.code,
            failure_threshold=source.breaker.failure_threshold,
            open_seconds=source.breaker.open_seconds,
            probe_lease=source.timeout_seconds * 2 + 1,
        )
        self.client = RestClient(source, self.breaker)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> SourceRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- runs, cursors, source status ----------------------------------------------------------


def ensure_source(session: Session, source: Any) -> SyncSource:
    row = session.get(SyncSource, source.code)
    if row is None:
        row = SyncSource(code=source.code, kind=source.kind, name=source.name, status="unknown")
        session.add(row)
    else:
        row.kind, row.name, row.active = source.kind, source.name, source.active
    session.flush()
    return row


def _start_run(rt: SourceRuntime, entity: str, trigger: str) -> int:
    with rt.db.write() as session:
        ensure_source(session, rt.source)
        run = SyncRun(source=rt.source.code, entity=entity, trigger=trigger, started_at=utcnow())
        session.add(run)
        session.flush()
        return run.id


def load_cursor(session: Session, source: str, entity: str) -> str | None:
    return session.scalar(
        select(SyncCursor.cursor).where(SyncCursor.source == source, SyncCursor.entity == entity)
    )


def _save_cursor(session: Session, source: str, entity: str, cursor: str) -> None:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    now = utcnow()
    stmt = module.insert(SyncCursor).values(
        source=source, entity=entity, cursor=cursor[:500], updated_at=now
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "entity"],
            set_={"cursor": stmt.excluded.cursor, "updated_at": now},
        )
    )


def refresh_source_status(session: Session, source: Any) -> str:
    """Recompute a source's status from the latest run of each of its active entities."""
    row = session.get(SyncSource, source.code, with_for_update=True) or ensure_source(
        session, source
    )
    names = [e.name for e in source.entities if e.active]
    latest, last_good = {}, {}
    for name in names:
        run = session.scalars(
            select(SyncRun)
            .where(SyncRun.source == source.code, SyncRun.entity == name)
            .order_by(SyncRun.id.desc())
            .limit(1)
        ).first()
        if run is not None:
            latest[name] = run
        last_good[name] = session.scalar(
            select(func.max(SyncRun.started_at)).where(
                SyncRun.source == source.code,
                SyncRun.entity == name,
                SyncRun.status.in_([RunStatus.succeeded, RunStatus.partial]),
            )
        )
    if not latest:
        return row.status
    failed = sorted(n for n, r in latest.items() if r.status == RunStatus.failed)
    finished = [r for r in latest.values() if r.status != RunStatus.running]
    row.last_run_at = max(r.started_at for r in latest.values())
    goods = [v for v in last_good.values() if v is not None]
    if goods:
        row.last_success_at = max(goods)
    row.data_as_of = min(goods) if len(goods) == len(names) else None
    if failed and len(failed) == len(finished):
        row.status = "down"
    elif failed:
        row.status = "degraded"
    elif finished:
        row.status = "ok"
    row.last_error = "; ".join(f"{n}: {latest[n].error}" for n in failed)[:4000] if failed else None
    _status_alerts(session, row, failed, latest)
    return row.status


def _status_alerts(
    session: Session, row: SyncSource, failed: list[str], latest: dict[str, SyncRun]
) -> None:
    code = row.code
    if row.status == "down":
        resolve_alerts(session, f"sync_failed:{code}")
        since = datetime_br(row.data_as_of) if row.data_as_of else "nenhuma sincronização completa"
        raise_alert(
            session,
            "source_down",
            f"Origem {code} indisponível: nenhuma entidade sincronizou. Sincro continua "
            f"servindo os últimos dados bons (de {since}).",
            source=code,
            severity="critical",
            details={"errors": {n: _kind(latest[n].error) for n in failed}},
            dedupe_key=f"source_down:{code}",
        )
    elif row.status == "degraded":
        resolve_alerts(session, f"source_down:{code}")
        raise_alert(
            session,
            "sync_failed",
            f"Origem {code}: falha ao sincronizar {', '.join(failed)}; "
            "as demais entidades estão em dia.",
            source=code,
            severity="warning",
            details={"errors": {n: _kind(latest[n].error) for n in failed}},
            dedupe_key=f"sync_failed:{code}",
        )
    elif row.status == "ok":
        resolve_alerts(session, f"source_down:{code}")
        resolve_alerts(session, f"sync_failed:{code}")
        resolve_alerts(session, f"stale_source:{code}")


def _kind(error: str | None) -> str:
    return (error or "").split(":", 1)[0] or "unknown"


def check_staleness(
    settings: Settings, config: ConnectorsConfig, now: dt.datetime | None = None
) -> list[str]:
    """Mark sources whose data is older than their threshold ``stale`` and alert; returns
    their codes."""
    db = database_for(settings)
    now = now or utcnow()
    stale = []
    with db.write() as session:
        for source in config.sources:
            if not source.active:
                continue
            minutes = getattr(source, "stale_after_minutes", None) or (
                config.alerts.stale_after_minutes
            )
            row = session.get(SyncSource, source.code) or ensure_source(session, source)
            age = None if row.data_as_of is None else now - row.data_as_of
            if age is not None and age <= dt.timedelta(minutes=minutes):
                resolve_alerts(session, f"stale_source:{source.code}")
                continue
            stale.append(source.code)
            if row.status in ("ok", "degraded", "unknown"):
                row.status = "stale"
            since = datetime_br(row.data_as_of) if row.data_as_of else "nunca sincronizada"
            raise_alert(
                session,
                "stale_source",
                f"Origem {source.code}: dados desatualizados há mais de {minutes} min "
                f"(últimos dados bons: {since}).",
                source=source.code,
                severity="warning",
                details={"stale_after_minutes": minutes},
                dedupe_key=f"stale_source:{source.code}",
            )
    return stale


# --- fetching pages ------------------------------------------------------------------------


def _fetch(
    rt: SourceRuntime,
    spec: EntityMapping,
    params: dict[str, Any],
    deadline: Deadline,
    meter: CpuMeter | None = None,
) -> Page:
    fetched_at = utcnow()
    cpu = time.thread_time()
    try:
        body = rt.client.get_json(spec.path, params, deadline)
    finally:
        if meter is not None:
            meter.add_fetch(time.thread_time() - cpu)
    records = dig(body, spec.records_path)
    if not isinstance(records, list):
        raise SyncError(
            "bad_payload",
            f"GET {spec.path}: {spec.records_path!r} is not a list of records",
        )
    pg = spec.pagination
    more = dig(body, pg.more_path) if pg.more_path else None
    page = Page(records=records, body=body, fetched_at=fetched_at)
    page.more = bool(more) if isinstance(more, bool) else None  # type: ignore[assignment]
    return page


@dataclass(frozen=True)
class PageSpan:
    """The numbered pages one part of a split entity run syncs: ``first``..``last``, and for
    the last part (``open_ended``) the pages past the total announced at the start too.
    ``saved`` is the cursor the pages were numbered against: every part asks with it, not with
    the cursor the first part moves meanwhile (which would shift the others' pages)."""

    index: int
    first: int
    last: int
    open_ended: bool
    saved: str | None = None

    def __str__(self) -> str:
        return f"pages {self.first}-{self.last}" + ("+" if self.open_ended else "")


def _numbered_pages(
    rt: SourceRuntime,
    spec: EntityMapping,
    params: dict[str, Any],
    size: int,
    concurrency: int,
    deadline: Deadline,
    meter: CpuMeter | None = None,
    span: PageSpan | None = None,
) -> Iterator[Page]:
    pg = spec.pagination

    def fetch(number: int) -> Page:
        query = {**params, pg.page_param: number, pg.size_param: size}
        page = _fetch(rt, spec, query, deadline, meter)
        page.number = number
        return page

    def has_more(page: Page) -> bool:
        return page.more if page.more is not None else len(page.records) >= size

    def fetch_range(first: int, last: int) -> Iterator[Page]:
        with ThreadPoolExecutor(concurrency, thread_name_prefix=f"fetch-{rt.source.code}") as pool:
            futures: dict[int, Future[Page]] = {}
            submit = first
            try:
                for number in range(first, last + 1):
                    while submit <= last and len(futures) < concurrency:
                        futures[submit] = pool.submit(fetch, submit)
                        submit += 1
                    yield futures.pop(number).result()
            finally:
                for future in futures.values():
                    future.cancel()

    if span is not None:
        page = None
        for page in fetch_range(span.first, span.last):
            yield page
        if page is None or not span.open_ended:
            return
    else:
        page = fetch(pg.first_page)
        yield page
        total = dig(page.body, pg.total_path) if pg.total_path else None
        if isinstance(total, int) and concurrency > 1:
            last = pg.first_page + max(0, math.ceil(total / size) - 1)
            for page in fetch_range(pg.first_page + 1, last):
                yield page
    while has_more(page) and page.records:
        page = fetch((page.number or pg.first_page) + 1)
        yield page


def _cursor_pages(
    rt: SourceRuntime,
    spec: EntityMapping,
    params: dict[str, Any],
    size: int,
    start: str | None,
    prefetch: bool,
    deadline: Deadline,
    meter: CpuMeter | None = None,
) -> Iterator[Page]:
    pg = spec.pagination

    def fetch(token: str | None) -> Page:
        query = {**params, pg.size_param: size}
        if token:
            query[pg.cursor_param] = token
        page = _fetch(rt, spec, query, deadline, meter)
        nxt = dig(page.body, pg.next_path)
        page.next_cursor = str(nxt) if nxt not in (None, "") else None
        if page.more is None:
            page.more = bool(page.next_cursor and page.records)
        page.more = bool(page.more and page.next_cursor and page.next_cursor != token)
        return page

    with ThreadPoolExecutor(1, thread_name_prefix=f"fetch-{rt.source.code}") as pool:
        pending: Future[Page] | None = None
        token = start
        while True:
            page = pending.result() if pending is not None else fetch(token)
            pending = None
            if page.more and prefetch:
                pending = pool.submit(fetch, page.next_cursor)
            try:
                yield page
            except GeneratorExit:
                if pending is not None:
                    pending.cancel()
                raise
            if not page.more:
                return
            token = page.next_cursor


# --- one entity ----------------------------------------------------------------------------


class _Counts:
    def __init__(self, cursor: str | None = None) -> None:
        self.records_in = self.applied = self.rejected = self.pages = 0
        self.cursor = cursor  # the highest incremental value of the pages applied so far


def _apply_page(
    rt: SourceRuntime,
    run_id: int,
    entity: str,
    mapper: Mapper,
    ctx: ApplyContext,
    page: Page,
    best: str | None,
    total: int | None,
    save_cursor: bool = True,
) -> tuple[int, int, str | None]:
    canonical = mapper.spec.canonical
    mapped: Any
    if canonical in COLUMN_APPLIERS:  # no dict per record (stock balances)
        mapped, rejects = mapper.map_columns(page.records)
        apply: Callable[[Session, ApplyContext, Any], tuple[int, list[Reject]]] = COLUMN_APPLIERS[
            canonical
        ]
        values: Callable[[str], Iterable[Any]] = lambda name: mapped.values.get(name, ())  # noqa: E731
    else:
        mapped, rejects = mapper.map_page(page.records)
        apply = APPLIERS[canonical]
        values = lambda name: (r.get(name) for _, r in mapped)  # noqa: E731
    cursor = _next_cursor(mapper.spec, page, values, best)
    ctx.fetched_at = page.fetched_at

    attempts = 0

    def work(session: Session) -> tuple[int, list[Reject]]:
        nonlocal attempts
        attempts += 1
        if attempts > 1:  # a deadlock rolled the first try back: ids it cached may be gone
            ctx.forget()
        applied, refused = apply(session, ctx, mapped)
        page_rejects = rejects + refused
        if page_rejects:
            session.execute(
                insert(SyncReject),
                [
                    {
                        "source": rt.source.code,
                        "entity": entity,
                        "run_id": run_id,
                        "record_key": r.record_key,
                        "field": r.field,
                        "rule": r.rule[:60],
                        "value": r.value,
                        "message": r.message,
                        "created_at": page.fetched_at,
                    }
                    for r in page_rejects
                ],
            )
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                records_in=SyncRun.records_in + len(page.records),
                records_applied=SyncRun.records_applied + applied,
                records_rejected=SyncRun.records_rejected + len(page_rejects),
                progress_done=SyncRun.progress_done + len(page.records),
                progress_total=total,
            )
        )
        if cursor is not None and save_cursor:
            _save_cursor(session, rt.source.code, entity, cursor)
        return applied, page_rejects

    applied, rejects = rt.db.write_retrying(work)
    return applied, len(rejects), cursor


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def sync_entity(
    rt: SourceRuntime,
    entity: str,
    trigger: str = "manual",
    *,
    parallel: bool = True,
    progress: Progress | None = None,
    pool: Executor | None = None,
) -> EntityResult:
    """Sync one entity of one source now; never raises for ERP or data errors (the run
    records them). A parallel run of an entity configured with ``parts`` > 1 syncs its page
    ranges side by side (:func:`_run_parts`): in ``pool``'s worker processes when given, else
    in threads."""
    with heap.young_threshold(rt.settings.connectors_gc_young_threshold):
        return _sync_entity(rt, entity, trigger, parallel, progress, pool)


def _sync_entity(
    rt: SourceRuntime,
    entity: str,
    trigger: str,
    parallel: bool,
    progress: Progress | None,
    pool: Executor | None,
) -> EntityResult:
    started = utcnow()
    meter = CpuMeter()
    run_id = _start_run(rt, entity, trigger)
    result = EntityResult(rt.source.code, entity, run_id, RunStatus.running)
    counts = _Counts()
    parts_cpu = 0.0
    try:
        spans = _plan_parts(rt, entity) if parallel else []
        if spans:
            parts_cpu = _run_parts(rt, entity, run_id, spans, counts, progress, pool, meter)
        else:
            _run_pages(rt, entity, run_id, parallel, counts, progress, meter)
        result.status = RunStatus.partial if counts.rejected else RunStatus.succeeded
    except SyncError as exc:
        result.status, result.error = RunStatus.failed, str(exc)
    except Exception as exc:
        log.exception("sync of %s/%s failed", rt.source.code, entity)
        result.status, result.error = RunStatus.failed, f"internal: {type(exc).__name__}: {exc}"
    result.records_in, result.applied = counts.records_in, counts.applied
    result.rejected, result.pages = counts.rejected, counts.pages
    result.seconds = (utcnow() - started).total_seconds()
    _finish_run(rt, result)
    result.cpu_seconds = meter.total() + parts_cpu
    return result


# --- an entity split into page ranges ------------------------------------------------------


@dataclass
class PartResult:
    """What one part of a split entity run did (pickled back from a worker process)."""

    span: PageSpan
    records_in: int = 0
    applied: int = 0
    rejected: int = 0
    pages: int = 0
    cursor: str | None = None  # the highest incremental value its applied pages carry
    error: str | None = None
    cpu_seconds: float = 0.0


def _plan_parts(rt: SourceRuntime, entity: str) -> list[PageSpan]:
    """The page ranges of a split run: ``parts`` contiguous ranges of about as many pages, the
    last one open-ended; [] when the entity is not split (``parts`` 1, cursor pagination, no
    total, or a single page). One request of one record tells the total."""
    config = rt.source.entity(entity)
    spec = rt.mapping.entities.get(entity)
    if config.parts < 2 or spec is None or spec.pagination.style != "page":
        return []
    pg = spec.pagination
    if not pg.total_path:
        return []
    params, saved = _params(rt, spec, entity)
    deadline = Deadline(rt.source.run_budget_seconds)
    probe = _fetch(rt, spec, {**params, pg.page_param: pg.first_page, pg.size_param: 1}, deadline)
    total = dig(probe.body, pg.total_path)
    size = config.page_size or rt.source.page_size
    if not isinstance(total, int) or total <= size:
        return []
    pages = math.ceil(total / size)
    parts = min(config.parts, pages)
    bounds = [pg.first_page + pages * i // parts for i in range(parts + 1)]
    return [PageSpan(i, bounds[i], bounds[i + 1] - 1, i == parts - 1, saved) for i in range(parts)]


def _run_parts(
    rt: SourceRuntime,
    entity: str,
    run_id: int,
    spans: list[PageSpan],
    counts: _Counts,
    progress: Progress | None,
    pool: Executor | None,
    meter: CpuMeter | None = None,
) -> float:
    """Sync the page ranges of one entity side by side; returns their CPU seconds (but the
    first range's with ``pool``: it runs in this thread, whose CPU ``meter`` measures).

    Each page is still applied whole in its own transaction with its rejects and the run's
    counters. Only the first range saves the cursor page by page (it is the prefix of the
    pages); once every range has ended, the cursor moves to the highest value of the prefix
    of ranges that finished (a failed range's applied pages included, as they were applied in
    order): it never runs ahead of a page that was not applied, and what a later range applied
    beyond a failed one is applied again, harmlessly, by the next run. A failed range fails
    the run, its error naming the range."""
    if pool is not None:  # the first range in this thread, the others in worker processes
        futures = [
            pool.submit(
                _sync_part_process, rt.settings, rt.config, rt.source.code, entity, run_id, span
            )
            for span in spans[1:]
        ]
        parts = [_sync_part(rt, entity, run_id, spans[0], meter=meter)]
        parts += [future.result() for future in futures]
    else:
        done = [0] * len(spans)
        lock = threading.Lock()

        def report(index: int) -> Progress | None:
            if progress is None:
                return None

            def part_progress(source: str, name: str, records: int, total: int | None) -> None:
                with lock:
                    done[index] = records
                    progress(source, name, sum(done), total)

            return part_progress

        with ThreadPoolExecutor(len(spans), thread_name_prefix=f"part-{rt.source.code}") as ex:
            jobs = [ex.submit(_sync_part, rt, entity, run_id, s, report(s.index)) for s in spans]
            parts = [job.result() for job in jobs]
    for part in parts:
        counts.records_in += part.records_in
        counts.applied += part.applied
        counts.rejected += part.rejected
        counts.pages += part.pages
    cursor = _prefix_cursor(parts)
    if cursor is not None and len(parts) > 1:
        with rt.db.write() as session:
            saved = load_cursor(session, rt.source.code, entity)
            if saved is None or _parse(cursor) > _parse(saved):
                _save_cursor(session, rt.source.code, entity, cursor)
    failed = [(p.span, p.error) for p in parts if p.error is not None]
    if failed:
        detail = "; ".join(f"{span}: {error}" for span, error in failed)
        raise SyncError(_kind(failed[0][1]), detail)
    return sum(p.cpu_seconds for p in parts)


def _prefix_cursor(parts: list[PartResult]) -> str | None:
    """The highest cursor of the ranges up to and including the first that did not finish."""
    cursor: str | None = None
    for part in sorted(parts, key=lambda p: p.span.index):
        if part.cursor is not None and (cursor is None or _parse(part.cursor) > _parse(cursor)):
            cursor = part.cursor
        if part.error is not None:
            break
    return cursor


def _sync_part(
    rt: SourceRuntime,
    entity: str,
    run_id: int,
    span: PageSpan,
    progress: Progress | None = None,
    meter: CpuMeter | None = None,
) -> PartResult:
    """One page range of a split run; never raises (the error is in the result). Its CPU
    seconds are its own, unless it runs under the caller's ``meter`` (then 0 here)."""
    own = meter is None
    meter = meter or CpuMeter()
    counts = _Counts()
    result = PartResult(span)
    try:
        _run_pages(rt, entity, run_id, True, counts, progress, meter, span)
    except SyncError as exc:
        result.error = str(exc)
    except Exception as exc:
        log.exception("sync of %s/%s (%s) failed", rt.source.code, entity, span)
        result.error = f"internal: {type(exc).__name__}: {exc}"
    result.records_in, result.applied = counts.records_in, counts.applied
    result.rejected, result.pages, result.cursor = counts.rejected, counts.pages, counts.cursor
    result.cpu_seconds = meter.total() if own else 0.0
    return result


def _sync_part_process(
    settings: Settings,
    config: ConnectorsConfig,
    code: str,
    entity: str,
    run_id: int,
    span: PageSpan,
) -> PartResult:
    with (
        SourceRuntime(settings, config, code) as rt,
        heap.young_threshold(settings.connectors_gc_young_threshold),
    ):
        return _sync_part(rt, entity, run_id, span)


def _finish_run(rt: SourceRuntime, result: EntityResult) -> None:
    with rt.db.write() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == result.run_id)
            .values(status=result.status, finished_at=utcnow(), error=result.error)
        )
        if result.status != RunStatus.failed:
            spec = rt.mapping.entities.get(result.entity)
            if spec is not None and spec.canonical in ("customer", "receivable"):
                customers.link_orphan_receivables(session, rt.source.code)
        refresh_source_status(session, rt.source)


def _run_pages(
    rt: SourceRuntime,
    entity: str,
    run_id: int,
    parallel: bool,
    counts: _Counts,
    progress: Progress | None,
    meter: CpuMeter | None = None,
    span: PageSpan | None = None,
) -> None:
    """Fetch and apply the entity's pages in order (``span``: one range of a split run; only
    the first range saves the cursor). ``counts`` follows every applied page."""
    config = rt.source.entity(entity)
    spec = rt.mapping.entities.get(entity)
    if spec is None:
        raise SyncError("config", f"mapping {rt.source.mapping} has no entity {entity!r}")
    mapper = Mapper(entity, spec)
    size = config.page_size or rt.source.page_size
    deadline = Deadline(rt.source.run_budget_seconds)
    params, saved = _params(rt, spec, entity, span)
    incremental = spec.incremental
    if spec.pagination.style == "page":
        concurrency = rt.source.max_concurrency if parallel else 1
        if span is not None:  # the entity's requests in flight, shared by its ranges
            concurrency = max(1, concurrency // max(1, config.parts))
        pages = _numbered_pages(rt, spec, params, size, concurrency, deadline, meter, span)
    else:
        start = saved if incremental and incremental.cursor else None
        pages = _cursor_pages(rt, spec, params, size, start, parallel, deadline, meter)
    ctx = ApplyContext(rt.source.code)
    best = saved
    save_cursor = span is None or span.index == 0
    total: int | None = None
    try:
        for page in pages:
            found = dig(page.body, spec.pagination.total_path)
            if isinstance(found, int):
                total = max(total or 0, found)
            applied, rejected, cursor = _apply_page(
                rt, run_id, entity, mapper, ctx, page, best, total, save_cursor
            )
            best = cursor or best
            if cursor is not None:
                counts.cursor = cursor
            counts.pages += 1
            counts.records_in += len(page.records)
            counts.applied += applied
            counts.rejected += rejected
            if progress is not None:
                progress(rt.source.code, entity, counts.records_in, total)
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def _params(
    rt: SourceRuntime, spec: EntityMapping, entity: str, span: PageSpan | None = None
) -> tuple[dict[str, Any], str | None]:
    """The query parameters of the entity's pages (the saved incremental value included) and
    the saved cursor (a range's: the one its split was planned with)."""
    if span is not None:
        saved = span.saved
    else:
        with rt.db.read() as session:
            saved = load_cursor(session, rt.source.code, entity)
    params = dict(spec.params)
    incremental = spec.incremental
    if saved and incremental and incremental.param:
        params[incremental.param] = saved
    return params, saved


def _next_cursor(
    spec: EntityMapping, page: Page, values: Callable[[str], Iterable[Any]], best: str | None
) -> str | None:
    """The cursor to save with this page, or None when it does not move (``values``: a mapped
    field's values over the page's records)."""
    incremental = spec.incremental
    if incremental is None:
        return None
    if incremental.cursor:
        return page.next_cursor
    name = incremental.field
    assert name is not None
    stamps = [v for v in values(name) if isinstance(v, dt.datetime)]
    if not stamps:
        return None
    highest = _iso(max(stamps))
    if best is not None and _parse(best) >= _parse(highest):
        return None
    return highest


def _parse(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# --- sources -------------------------------------------------------------------------------


def _phases(rt: SourceRuntime, entities: list[str] | None) -> list[list[str]]:
    names = entities or [e.name for e in rt.source.entities if e.active]
    first = [
        n
        for n in names
        # products and plans first: stock, prices and promotions name them
        if (spec := rt.mapping.entities.get(n)) is not None
        and spec.canonical in ("product", "plan")
    ]
    return [p for p in (first, [n for n in names if n not in first]) if p]


def run_source(
    settings: Settings,
    config: ConnectorsConfig,
    source_code: str,
    trigger: str = "manual",
    parallel: bool = True,
    *,
    entities: list[str] | None = None,
    progress: Progress | None = None,
    db: Database | None = None,
    pool: Executor | None = None,
) -> SourceResult:
    """Sync a REST source now (no Celery): products first, then the other entities in
    parallel (``parallel=False``: one entity, one page at a time). ``pool``: worker processes;
    each phase's entities then run together in one worker, as a source did, while this thread
    coordinates each split entity: its first page range here, the others in workers."""
    with SourceRuntime(settings, config, source_code, db) as rt:
        results: list[EntityResult] = []

        def one(name: str) -> EntityResult:
            return sync_entity(rt, name, trigger, parallel=parallel, progress=progress, pool=pool)

        for phase in _phases(rt, entities):
            if pool is not None:
                results.extend(_phase_in_workers(rt, phase, trigger, pool, one))
            elif parallel and len(phase) > 1:
                with ThreadPoolExecutor(len(phase), thread_name_prefix=f"sync-{source_code}") as ex:
                    results.extend(ex.map(one, phase))
            else:
                results.extend(one(name) for name in phase)
        with rt.db.read() as session:
            row = session.get(SyncSource, source_code)
            status = row.status if row else "unknown"
    return SourceResult(source_code, status, results)


def run_sources(
    settings: Settings,
    config: ConnectorsConfig,
    codes: list[str] | None = None,
    trigger: str = "manual",
    parallel: bool = True,
    *,
    progress: Progress | None = None,
    db: Database | None = None,
    processes: bool = False,
) -> list[SourceResult]:
    """Sync several REST sources (default: every active one), all at once when parallel.

    ``processes``: the entities of each source in a worker process (spawned), as Celery's
    prefork workers run them in production, and the page ranges of a split entity but its
    first (which runs in this process) each in a worker of its own, so that the CPU work of
    mapping and applying (the GIL keeps threads to one core) spreads over the cores; the
    sources are coordinated from threads of this process. No ``progress`` then, and each
    worker opens its own connections to ``settings.database_url``."""
    codes = codes or [s.code for s in config.sources if s.active and isinstance(s, RestSource)]
    if processes and parallel:
        if progress is not None:
            raise ValueError("progress callbacks need threads (processes=False)")
        spawn = multiprocessing.get_context("spawn")
        # workers start on demand: as many as jobs may run at once, at most
        rest = [s for s in config.sources if s.code in codes and isinstance(s, RestSource)]
        slots = sum(1 + sum(e.parts - 1 for e in s.entities if e.active) for s in rest)
        with (
            ProcessPoolExecutor(max(1, slots), mp_context=spawn) as pool,
            ThreadPoolExecutor(max(1, len(codes)), thread_name_prefix="sync-sources") as ex,
        ):
            futures = [
                ex.submit(run_source, settings, config, c, trigger, True, db=db, pool=pool)
                for c in codes
            ]
            return [f.result() for f in futures]
    if not parallel or len(codes) < 2:
        return [
            run_source(settings, config, c, trigger, parallel, progress=progress, db=db)
            for c in codes
        ]
    with ThreadPoolExecutor(len(codes), thread_name_prefix="sync-sources") as ex:
        futures = [
            ex.submit(run_source, settings, config, c, trigger, True, progress=progress, db=db)
            for c in codes
        ]
        return [f.result() for f in futures]


def _phase_in_workers(
    rt: SourceRuntime,
    phase: list[str],
    trigger: str,
    pool: Executor,
    one: Callable[[str], EntityResult],
) -> list[EntityResult]:
    """One phase of a source with worker processes: the entities that are not split in one
    worker (threads there), each split entity coordinated from a thread of this process."""
    split = [n for n in phase if rt.source.entity(n).parts > 1]
    rest = [n for n in phase if n not in split]
    job = (
        pool.submit(_sync_entities_process, rt.settings, rt.config, rt.source.code, rest, trigger)
        if rest
        else None
    )
    done: dict[str, EntityResult] = {}
    if split:
        with ThreadPoolExecutor(len(split), thread_name_prefix=f"split-{rt.source.code}") as ex:
            done.update(zip(split, ex.map(one, split), strict=True))
    if job is not None:
        done.update((r.entity, r) for r in job.result())
    return [done[n] for n in phase]


def _sync_entities_process(
    settings: Settings, config: ConnectorsConfig, code: str, entities: list[str], trigger: str
) -> list[EntityResult]:
    """Entities of one phase of a source, side by side in threads of a worker process."""
    return run_source(settings, config, code, trigger, True, entities=entities).entities
