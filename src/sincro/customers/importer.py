"""CSV import of customers: ``sincro customers import FILE``, ``POST /v1/customers/import``
and the console's import page share this module.

The file is outside input, so it is treated as hostile:

- **Two forms.** The pt-BR Excel form (``;`` between cells, UTF-8 with a BOM or Windows-1252,
  dates ``dd/mm/aaaa``) and plain CSV (``,``, UTF-8, ISO dates); the delimiter is the one the
  header uses most, and both date forms are read in either.
- **Encoding.** UTF-8 first (BOM or not), then Windows-1252 (what Excel in pt-BR saves as
  "CSV (separado por vírgulas)"); the import records which one it used. Bytes neither reads
  refuse the file with a clear message.
- **Header names** in pt-BR or English, folded (case, accents, spaces): ``nome``/``name``,
  ``cpf``/``cnpj``/``documento``/``document``, ``email``/``e-mail``, ``telefone``/``phone``,
  ``cidade``/``city``, ``uf``/``estado``/``state``, ``plano``/``plan``,
  ``nascimento``/``birth_date``, ``cliente_desde``/``customer_since``, and consent columns
  ``consentimento_<finalidade>[_<canal>]`` (``consentimento_marketing``,
  ``consentimento_cobranca_sms``, ``marketing_consent``…; Sim/Não, S/N, yes/no, 1/0, x).
  Columns it does not know are ignored; ``nome`` and ``cpf`` are required.
- **Every line is validated** (the same rules as the API: CPF/CNPJ check digits, e-mail, UF,
  dates); a bad line is refused with its line number, column and reason (pt-BR) and the
  others go on. NUL bytes or other control characters in a line, and lines longer than
  ``SINCRO_CUSTOMERS_IMPORT_MAX_LINE_CHARS``, are refused whole. Lines are read one by one
  (a quoted cell cannot span lines), so line numbers are the ones an editor shows.
- **Batches.** Valid lines are applied ``SINCRO_CUSTOMERS_IMPORT_BATCH_LINES`` at a time, each
  batch one transaction together with its rejects and the import's progress, whose
  ``processed_lines`` is the cursor a later run resumes from: a crash leaves whole batches
  applied and the import's counts true. The batch's first statement is the fence of the run's
  lease (the import's row, where this run holds it at the cursor it expects), so a run that
  was taken over cannot commit. Customers are merged by document (the
  oldest record of a CPF/CNPJ is updated, blanks never erase); new ones are inserted in one
  statement. Consent from the file is recorded with the evidence ``csv:<file name>:<line>``.
  The API and the console run imports on the workers (:mod:`sincro.customers.jobs`); the
  CLI runs them in its own process.
- **Dry run** validates everything and counts what would be created or updated; nothing
  changes but the import's own record and its reject report.
- **Reject report**: stored per import (personal values masked), downloadable as CSV in the
  house's forms; cells a spreadsheet would run as a formula are defused there.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sincro.customers import repository as repo
from sincro.customers.exceptions import UnreadableFile
from sincro.customers.schemas import CHANNELS, CustomerRegistration, normalize_email
from sincro.customers.service import revive_suppressions
from sincro.customers.visibility import mask_document, mask_email, mask_phone
from sincro.db import Database, utcnow
from sincro.text_pt import fold, mask

FIELDS = {
    "name": ("nome", "name", "nome_completo", "razao_social", "cliente"),
    "document": ("cpf", "cnpj", "cpf_cnpj", "cpf_ou_cnpj", "documento", "document"),
    "email": ("email", "e_mail", "endereco_de_email"),
    "phone": ("telefone", "phone", "celular", "fone", "whatsapp"),
    "city": ("cidade", "city", "municipio"),
    "state": ("uf", "estado", "state"),
    "plan_interest": ("plano", "plan"),
    "birth_date": ("nascimento", "data_nascimento", "data_de_nascimento", "birth_date"),
    "customer_since": ("cliente_desde", "customer_since", "desde"),
}
ALIASES = {alias: name for name, aliases in FIELDS.items() for alias in aliases}
PURPOSE_WORDS = {
    "marketing": "marketing",
    "ofertas": "marketing",
    "cobranca": "billing",
    "billing": "billing",
    "faturas": "billing",
    "servico": "service",
    "service": "service",
    "avisos": "service",
}
CONSENT_RE = re.compile(r"^(?:consentimento_(\w+?)(?:_(\w+))?|(\w+?)_consent(?:_(\w+))?)$")
YES = frozenset({"sim", "s", "yes", "y", "true", "1", "x", "verdadeiro"})
NO = frozenset({"nao", "n", "no", "false", "0", "falso"})
DATE_BR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
PERSONAL_COLUMNS = {"document": mask_document, "email": mask_email, "phone": mask_phone}
REQUIRED = ("name", "document")
LABELS_PT = {
    "name": "nome",
    "document": "cpf",
    "email": "email",
    "phone": "telefone",
    "city": "cidade",
    "state": "uf",
    "plan_interest": "plano",
    "birth_date": "nascimento",
    "customer_since": "cliente_desde",
}


@dataclass(frozen=True, slots=True)
class ConsentColumn:
    index: int
    header: str
    channel: str
    purpose: str


@dataclass(frozen=True, slots=True)
class Layout:
    """What the header says: where each field is, and the consent columns."""

    delimiter: str
    headers: list[str]
    fields: dict[str, int]
    consents: list[ConsentColumn]
    ignored: list[str]


@dataclass(slots=True)
class Reject:
    line: int
    column: str
    reason: str
    value: str = ""

    def row(self, import_id: int) -> dict[str, Any]:
        return {
            "import_id": import_id,
            "line": self.line,
            "column": self.column[:60],
            "reason": self.reason[:300],
            "value": self.value[:200],
        }


@dataclass(slots=True)
class Good:
    line: int
    data: CustomerRegistration
    consents: list[tuple[str, str, bool]] = field(default_factory=list)


@dataclass(slots=True)
class Decoded:
    text: str
    encoding: str


def decode(raw: bytes) -> Decoded:
    """UTF-8 (with or without BOM), else Windows-1252; :class:`UnreadableFile` otherwise."""
    try:
        return Decoded(raw.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return Decoded(raw.decode("cp1252"), "cp1252")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"the file is neither UTF-8 nor Windows-1252 (byte {exc.start} cannot be read); "
            "save it as CSV UTF-8",
            field="file",
        ) from exc


def header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text.strip().lstrip("\ufeff"))).strip("_")


def _consent_column(index: int, header: str, key: str) -> ConsentColumn | None:
    match = CONSENT_RE.match(key)
    if not match:
        return None
    word = match.group(1) or match.group(3)
    channel = match.group(2) or match.group(4) or "email"
    purpose = PURPOSE_WORDS.get(word or "")
    if purpose is None or channel not in CHANNELS:
        return None
    return ConsentColumn(index, header, channel, purpose)


def read_layout(header_line: str) -> Layout:
    """The header: delimiter (``;`` or ``,``, whichever it uses more) and known columns."""
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    headers = next(csv.reader([header_line], delimiter=delimiter), [])
    fields: dict[str, int] = {}
    consents: list[ConsentColumn] = []
    ignored: list[str] = []
    for index, header in enumerate(headers):
        key = header_key(header)
        name = ALIASES.get(key)
        if name is not None and name not in fields:
            fields[name] = index
            continue
        consent = _consent_column(index, header.strip(), key)
        if consent is not None:
            consents.append(consent)
        elif header.strip():
            ignored.append(header.strip()[:60])
    missing = [LABELS_PT[name] for name in REQUIRED if name not in fields]
    if missing:
        raise UnreadableFile(
            f"required columns missing from the header: {', '.join(missing)}", field="file"
        )
    return Layout(delimiter, [h.strip()[:60] for h in headers], fields, consents, ignored)


def parse_date(text: str) -> dt.date:
    """``dd/mm/aaaa`` or ``aaaa-mm-dd``."""
    match = DATE_BR.match(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return dt.date(year, month, day)
    return dt.date.fromisoformat(text)


REASONS = {
    "document": "CPF/CNPJ inválido (dígitos verificadores)",
    "email": "e-mail inválido",
    "state": "UF inválida",
    "birth_date": "data de nascimento fora do intervalo (1900 até hoje)",
}


def _reason(column: str, error: Any) -> str:
    kind = error.get("type", "")
    if column == "document":
        return "CPF/CNPJ inválido (11 ou 14 dígitos, dígitos verificadores)"
    if kind == "missing" or (kind == "string_too_short" and column == "name"):
        return "obrigatório" if column != "name" else "nome obrigatório (2 letras ou mais)"
    if kind == "string_too_long":
        return f"texto longo demais (máximo {error.get('ctx', {}).get('max_length')})"
    if kind == "string_too_short":
        return f"texto curto demais (mínimo {error.get('ctx', {}).get('min_length')})"
    return REASONS.get(column, str(error.get("msg", "inválido")))


def _shown(column: str, value: str) -> str:
    """A refused value as the reject report keeps it: personal ones masked."""
    masker = PERSONAL_COLUMNS.get(column)
    if masker is not None:
        return masker(value) or ""
    if column == "birth_date":
        return mask(value)
    return CONTROL.sub("", value)[:200]


def parse_line(
    number: int, cells: Sequence[str], layout: Layout
) -> tuple[Good | None, list[Reject]]:
    """One data line: the registration and its consents, or why it is refused."""
    rejects: list[Reject] = []
    record: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for name, index in layout.fields.items():
        value = cells[index].strip() if index < len(cells) else ""
        raw[name] = value
        if not value:
            continue
        if name in ("birth_date", "customer_since"):
            try:
                record[name] = parse_date(value)
            except ValueError:
                label = layout.headers[index]
                reason = "data inválida (use dd/mm/aaaa)"
                rejects.append(Reject(number, label, reason, _shown(name, value)))
            continue
        record[name] = normalize_email(value) if name == "email" else value
    consents: list[tuple[str, str, bool]] = []
    for column in layout.consents:
        value = cells[column.index].strip() if column.index < len(cells) else ""
        if not value:
            continue
        word = fold(value)
        if word in YES or word in NO:
            consents.append((column.channel, column.purpose, word in YES))
        else:
            reason = "use Sim ou Não"
            rejects.append(Reject(number, column.header, reason, _shown("", value)))
    try:
        good = CustomerRegistration.model_validate(record)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "name"
            label = layout.headers[layout.fields[name]] if name in layout.fields else name
            reason = _reason(name, error)
            rejects.append(Reject(number, label, reason, _shown(name, raw.get(name, ""))))
        return None, rejects
    if rejects:
        return None, rejects
    return Good(number, good, consents), []


NEWLINE = re.compile(r"\r\n|\r|\n")


def lines(text: str) -> list[tuple[int, str]]:
    """Physical lines with their 1-based numbers, split on ``\\r\\n``, ``\\n`` or
    ``\\r`` only (``str.splitlines`` would also split on form feeds and U+2028, which
    would shift the numbers an editor shows)."""
    parts = NEWLINE.split(text)
    if parts and parts[-1] == "":
        parts.pop()
    return list(enumerate(parts, start=1))


@dataclass(slots=True)
class Outcome:
    import_id: int
    total_lines: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    seconds: float = 0.0


Progress = Callable[[int, int], None]


class LeaseLost(Exception):
    """Another run holds the import now (this run's lease ran out and it was taken over):
    this run stops and its current batch is rolled back."""


def this_worker() -> str:
    """``host:pid``: who holds an import's lease."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


@dataclass(slots=True)
class Parsed:
    encoding: str
    layout: Layout
    data: list[tuple[int, str]]  # the data lines (number, text), blanks left out


class Importer:
    """One import run: create its record (or take a queued one), read the file, apply it
    batch by batch from the record's cursor.

    Every write of a run is fenced by its lease (``worker``): a batch's transaction first
    updates the import's row where ``worker`` is this run and ``processed_lines`` is the
    cursor this run expects, renewing the lease, then applies the batch, its rejects and the
    new counts. A run killed mid-batch leaves nothing of that batch; a run taken over after
    its lease ran out cannot commit (:class:`LeaseLost`)."""

    def __init__(
        self,
        db: Database,
        *,
        batch_lines: int,
        max_line_chars: int,
        progress: Progress | None = None,
        worker: str | None = None,
        lease_seconds: float = 600.0,
        keep_on: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.db = db
        self.batch_lines = batch_lines
        self.max_line_chars = max_line_chars
        self.progress = progress
        self.worker = (worker or this_worker())[:120]
        self.lease = dt.timedelta(seconds=lease_seconds)
        # errors that leave the import running (released) for a retry instead of failing it
        self.keep_on = keep_on

    def start(self, file_name: str, *, dry_run: bool, actor: str) -> int:
        """The import's record, running and held by this importer (the CLI runs it here)."""
        return self.new_record(file_name, dry_run=dry_run, actor=actor, status="running")

    def new_record(
        self,
        file_name: str,
        *,
        dry_run: bool,
        actor: str,
        status: str,
        upload: bytes | None = None,
    ) -> int:
        """An import's record; ``queued`` ones carry their ``upload`` for the workers."""
        now = utcnow()
        running = status == "running"
        with self.db.write() as session:
            record = repo.new_import(
                session,
                {
                    "file_name": _safe_name(file_name),
                    "encoding": "",
                    "delimiter": ",",
                    "dry_run": dry_run,
                    "status": status,
                    "total_lines": 0,
                    "processed_lines": 0,
                    "created": 0,
                    "updated": 0,
                    "rejected": 0,
                    "error": "",
                    "actor": actor[:120],
                    "started_at": now,
                    "updated_at": now,
                    "worker": self.worker if running else "",
                    "lease_until": now + self.lease if running else None,
                    "attempts": 1 if running else 0,
                    "enqueued_at": None if running else now,
                },
            )
            if upload is not None:
                repo.store_upload(session, record.id, upload)
            return record.id

    def read(self, raw: bytes) -> Parsed:
        """Decode the file and read its header; :class:`UnreadableFile` when it cannot be
        read at all (the API and the console check an upload with this before queueing it)."""
        decoded = decode(raw)
        numbered = lines(decoded.text)
        while numbered and not numbered[0][1].strip():
            numbered.pop(0)
        if not numbered:
            raise UnreadableFile("the file is empty (no header line)", field="file")
        header = numbered[0][1]
        if len(header) > self.max_line_chars or CONTROL.search(header):
            raise UnreadableFile("the header line is unreadable", field="file")
        layout = read_layout(header)
        data = [(n, line) for n, line in numbered[1:] if line.strip()]
        return Parsed(decoded.encoding, layout, data)

    def run(self, import_id: int, raw: bytes) -> Outcome:
        """Read and apply the file of ``import_id`` from its cursor (0, or the lines of the
        batches a previous run committed); a file that cannot be read at all marks the import
        failed and raises :class:`UnreadableFile`."""
        began = time.perf_counter()
        with self.db.read() as session:
            record = repo.get_import(session, import_id)
            assert record is not None
            file_name, dry_run = record.file_name, record.dry_run
            outcome = Outcome(
                import_id,
                processed=record.processed_lines,
                created=record.created,
                updated=record.updated,
                rejected=record.rejected,
            )
        try:
            parsed = self.read(raw)
        except UnreadableFile as exc:
            self._finish(import_id, status="failed", error=exc.message)
            raise
        data = parsed.data
        outcome.total_lines = len(data)
        self._update(
            import_id,
            {
                "encoding": parsed.encoding,
                "delimiter": parsed.layout.delimiter,
                "total_lines": len(data),
            },
        )
        try:
            for start in range(outcome.processed, len(data), self.batch_lines):
                chunk = data[start : start + self.batch_lines]
                self._batch(import_id, file_name, parsed.layout, chunk, dry_run, outcome)
                if self.progress is not None:
                    self.progress(start + len(chunk), len(data))
        except LeaseLost:
            raise
        except self.keep_on:
            self._release(import_id)
            raise
        except Exception as exc:
            self._finish(import_id, status="failed", error=f"{type(exc).__name__}")
            raise
        self._finish(import_id, status="done", error="")
        outcome.seconds = time.perf_counter() - began
        return outcome

    def _batch(
        self,
        import_id: int,
        file_name: str,
        layout: Layout,
        chunk: list[tuple[int, str]],
        dry_run: bool,
        outcome: Outcome,
    ) -> None:
        goods: list[Good] = []
        rejects: list[Reject] = []
        for number, line in chunk:
            if len(line) > self.max_line_chars:
                reason = (
                    f"linha longa demais ({len(line)} caracteres; máximo {self.max_line_chars})"
                )
                rejects.append(Reject(number, "linha", reason))
                continue
            if CONTROL.search(line):
                rejects.append(Reject(number, "linha", "caracteres de controle (NUL) na linha"))
                continue
            try:
                cells = next(csv.reader([line], delimiter=layout.delimiter, strict=True), [])
            except csv.Error:
                rejects.append(Reject(number, "linha", "aspas malformadas na linha"))
                continue
            good, bad = parse_line(number, cells, layout)
            if good is not None:
                goods.append(good)
            rejects.extend(bad)
        refused = len({r.line for r in rejects})
        with self.db.write() as session:
            # the fence first: it renews the lease and locks the import's row for the batch
            if not repo.guarded_update(
                session, import_id, self.worker, self._renewed(), processed=outcome.processed
            ):
                raise LeaseLost(import_id)
            created, updated = apply(session, goods, file_name, dry_run=dry_run)
            repo.add_import_rejects(session, [r.row(import_id) for r in rejects])
            repo.update_import(
                session,
                import_id,
                {
                    "processed_lines": outcome.processed + len(chunk),
                    "created": outcome.created + created,
                    "updated": outcome.updated + updated,
                    "rejected": outcome.rejected + refused,
                },
            )
        outcome.processed += len(chunk)
        outcome.created += created
        outcome.updated += updated
        outcome.rejected += refused

    def _renewed(self) -> dict[str, Any]:
        now = utcnow()
        return {"lease_until": now + self.lease, "updated_at": now}

    def _update(self, import_id: int, values: dict[str, Any]) -> None:
        with self.db.write() as session:
            if not repo.guarded_update(session, import_id, self.worker, values | self._renewed()):
                raise LeaseLost(import_id)

    def _release(self, import_id: int) -> None:
        """Let another run take the import at once (a retry after a transient error)."""
        try:
            with self.db.write() as session:
                repo.guarded_update(session, import_id, self.worker, {"lease_until": utcnow()})
        except Exception:
            pass  # the database is what failed: the lease runs out by itself

    def fail(self, import_id: int, error: str) -> None:
        """Give the import up (held by this run): failed, upload deleted."""
        self._finish(import_id, status="failed", error=error)

    def _finish(self, import_id: int, *, status: str, error: str) -> None:
        """The import's end and its upload's deletion, in one transaction."""
        now = utcnow()
        values = {
            "status": status,
            "error": error[:300],
            "finished_at": now,
            "updated_at": now,
            "lease_until": None,
        }
        with self.db.write() as session:
            if not repo.guarded_update(session, import_id, self.worker, values):
                raise LeaseLost(import_id)
            repo.delete_upload(session, import_id)


def _safe_name(name: str) -> str:
    """The file's base name without path or control characters (it goes into evidence)."""
    base = re.split(r"[\\/]", name or "")[-1]
    return CONTROL.sub("", base).replace(":", "_").strip()[:120] or "arquivo.csv"


def apply(session: Any, goods: list[Good], file_name: str, *, dry_run: bool) -> tuple[int, int]:
    """Apply valid lines (merged by document: later lines of the same document fill in and
    replace earlier values; blanks never erase); returns (created, updated)."""
    merged: dict[str, dict[str, Any]] = {}
    consent_rows: list[tuple[str, int, tuple[str, str, bool]]] = []
    for good in goods:
        data = good.data
        values = {
            "name": data.name,
            "email": data.email,
            "phone": data.phone,
            "city": data.city,
            "state": data.state,
            "birth_date": data.birth_date,
            "plan": data.plan_interest,
            "customer_since": data.customer_since,
        }
        current = merged.setdefault(data.document, {})
        current.update({k: v for k, v in values.items() if v is not None})
        consent_rows.extend((data.document, good.line, c) for c in good.consents)
    existing = repo.primaries_by_document(session, merged)
    created = len(merged) - len(existing)
    if dry_run:
        return created, len(existing)
    now = utcnow()
    updates = []
    for document, values in merged.items():
        customer = existing.get(document)
        if customer is None:
            continue
        changes = {k: v for k, v in values.items() if getattr(customer, k) != v}
        if customer.plan is not None:
            changes.pop("plan", None)  # the plan a customer has wins over an interest
        if customer.customer_since is not None:
            changes.pop("customer_since", None)  # the ERP's date wins
        if changes:
            updates.append({"id": customer.id, **changes, "updated_at": now})
    repo.update_customers(session, updates)
    new_rows = [
        {
            "source": "csv",
            "external_code": document,
            "name": values["name"],
            "document": document,
            "document_kind": "cpf" if len(document) == 11 else "cnpj",
            "email": values.get("email"),
            "phone": values.get("phone"),
            "city": values.get("city"),
            "state": values.get("state"),
            "birth_date": values.get("birth_date"),
            "plan": values.get("plan"),
            "customer_since": values.get("customer_since") or now.date(),
            "created_at": now,
            "updated_at": now,
        }
        for document, values in merged.items()
        if document not in existing
    ]
    ids = {document: c.id for document, c in existing.items()}
    ids.update(repo.insert_customers(session, "csv", new_rows))
    repo.set_consent_rows(
        session,
        [
            {
                "customer_id": ids[document],
                "channel": channel,
                "purpose": purpose,
                "granted": granted,
                "source": "csv",
                "evidence": f"csv:{file_name}:{line}",
            }
            for document, line, (channel, purpose, granted) in consent_rows
        ],
    )
    revive_suppressions(session, (v["email"] for v in merged.values() if v.get("email")))
    return created, len(existing)
