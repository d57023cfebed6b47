"""CSV import: both house forms, encodings, every line validated with a reject report,
consent evidence per line, merges by document, atomic batches, hostile files, the API and
the CLI, on SQLite and PostgreSQL (the jobs on the workers: test_import_jobs.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sincro.cli import app
from sincro.config import Settings, reset_settings
from sincro.customers import jobs, repository as repo, service
from sincro.customers.exceptions import UnreadableFile
from sincro.customers.importer import Importer
from sincro.customers.models import ConsentEvent, Customer
from sincro.db import Database, reset_databases
from sincro.text_pt import format_cpf
from tests.customers.support import admin_key, api_client, cpf


def run(
    db: Database, raw: bytes, name: str = "clientes.csv", *, dry_run: bool = False, batch: int = 500
) -> int:
    importer = Importer(db, batch_lines=batch, max_line_chars=4000)
    import_id = importer.start(name, dry_run=dry_run, actor="teste")
    importer.run(import_id, raw)
    return import_id


def rejects(db: Database, import_id: int) -> list[tuple[int, str, str, str]]:
    with db.read() as session:
        return [
            (r.line, r.column, r.reason, r.value) for r in repo.import_rejects(session, import_id)
        ]


def customers(db: Database) -> dict[str, Customer]:
    with db.read() as session:
        rows = session.scalars(select(Customer).where(Customer.merged_into_id.is_(None)))
        return {c.document or "": c for c in rows}


def excel(lines: list[str]) -> bytes:
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def test_excel_form_rejects_per_line_and_consent_evidence(db: Database) -> None:
    raw = excel(
        [
            "Nome;CPF;E-mail;Telefone;Cidade;UF;Plano;Nascimento;Cliente desde;"
            "Consentimento marketing;Coluna extra",
            f"Maria Souza;{format_cpf(cpf(1))};Maria@Exemplo.com.br;11 91234-5678;Campinas;"
            "sp;Controle 20GB;05/03/1990;01/02/2020;Sim;x",
            f"José Lima;{cpf(2)};jose@exemplo.com.br;;Recife;PE;;;;não;",
            "Sem Documento;123.456.789-00;a@b.co;;;SP;;;;;",
            f"Data Ruim;{cpf(3)};;;;SP;;31/02/1990;;;",
            f"UF Ruim;{cpf(4)};;;;XX;;;;talvez;",
            "",
            f"Maria S.;{cpf(1)};;;;;;;;;",
        ]
    )
    import_id = run(db, raw)
    with db.read() as session:
        record = repo.get_import(session, import_id)
        assert record is not None
        assert (record.status, record.encoding, record.delimiter) == ("done", "utf-8", ";")
        assert (record.total_lines, record.created, record.rejected) == (6, 2, 3)
    assert rejects(db, import_id) == [
        (4, "CPF", "CPF/CNPJ inválido (11 ou 14 dígitos, dígitos verificadores)", "***.456.789-**"),
        (5, "Nascimento", "data inválida (use dd/mm/aaaa)", "31******90"),
        (6, "Consentimento marketing", "use Sim ou Não", "talvez"),
        (6, "UF", "UF inválida", "XX"),
    ]
    found = customers(db)
    maria = found[cpf(1)]
    assert maria.name == "Maria S." and maria.email == "maria@exemplo.com.br"
    assert maria.state == "SP" and maria.birth_date == dt.date(1990, 3, 5)
    assert maria.customer_since == dt.date(2020, 2, 1) and maria.plan == "Controle 20GB"
    assert cpf(3) not in found and cpf(4) not in found
    with db.read() as session:
        events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.customer_id, e.purpose, e.granted, e.source, e.evidence) for e in events] == [
            (maria.id, "marketing", True, "csv", "csv:clientes.csv:2"),
            (found[cpf(2)].id, "marketing", False, "csv", "csv:clientes.csv:3"),
        ]
        assert service.consenting(session, [maria.id], channel="email", purpose="marketing") == {
            maria.id
        }


def test_plain_form_english_headers_and_windows_1252(db: Database) -> None:
    text = (
        "name,document,email,city,state,plan,birth_date,customer_since,billing_consent_sms\r\n"
        f"João Ávila,{cpf(10)},joao@x.com.br,São Paulo,SP,Pré,1985-12-31,2019-07-01,yes\r\n"
        f'"Souza, Ana",{cpf(11)},,,RJ,,,,\r\n'
    )
    import_id = run(db, text.encode("cp1252"), "lista.csv")
    with db.read() as session:
        record = repo.get_import(session, import_id)
        assert record is not None and (record.encoding, record.delimiter, record.created) == (
            "cp1252",
            ",",
            2,
        )
        events = session.scalars(select(ConsentEvent)).all()
        assert [(e.channel, e.purpose, e.granted, e.evidence) for e in events] == [
            ("sms", "billing", True, "csv:lista.csv:2")
        ]
    found = customers(db)
    assert found[cpf(10)].name == "João Ávila" and found[cpf(10)].city == "São Paulo"
    assert found[cpf(10)].birth_date == dt.date(1985, 12, 31)
    assert found[cpf(11)].name == "Souza, Ana"


def test_hostile_lines_are_refused_and_the_others_applied(db: Database) -> None:
    raw = (
        "nome;cpf\n"
        f"Ana\x00Bel;{cpf(20)}\n"
        f"{'A' * 5000};{cpf(21)}\n"
        f'"Aspas;{cpf(22)}\n'
        f"Boa Linha;{cpf(23)}\n"
    ).encode()
    import_id = run(db, raw)
    got = rejects(db, import_id)
    assert [(line, column) for line, column, _, _ in got] == [
        (2, "linha"),
        (3, "linha"),
        (4, "linha"),
    ]
    assert "NUL" in got[0][2] and "longa demais" in got[1][2]
    assert set(customers(db)) == {cpf(23)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"nome;email\nAna;a@b.co\n", "cpf"),
        (b"nome;cpf\n\x81\x8d\x8f\x90\x9d;1\n", "neither UTF-8 nor Windows-1252"),
    ],
)
def test_unreadable_files_fail_the_import_with_the_reason(
    db: Database, raw: bytes, message: str
) -> None:
    importer = Importer(db, batch_lines=10, max_line_chars=4000)
    import_id = importer.start("x.csv", dry_run=False, actor="t")
    with pytest.raises(UnreadableFile) as caught:
        importer.run(import_id, raw)
    assert message in caught.value.message
    with db.read() as session:
        record = repo.get_import(session, import_id)
        assert record is not None and record.status == "failed" and message in record.error


def test_each_batch_is_atomic(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["nome;cpf;consentimento_marketing"] + [
        f"Cliente {n};{cpf(100 + n)};sim" for n in range(9)
    ]
    calls = {"n": 0}
    real = repo.set_consent_rows

    def failing_second_batch(session: Any, rows: list[dict[str, Any]]) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(session, rows)

    monkeypatch.setattr(repo, "set_consent_rows", failing_second_batch)
    importer = Importer(db, batch_lines=3, max_line_chars=4000)
    import_id = importer.start("lotes.csv", dry_run=False, actor="t")
    with pytest.raises(RuntimeError):
        importer.run(import_id, excel(lines))
    assert set(customers(db)) == {cpf(100), cpf(101), cpf(102)}  # batch 1 whole, batch 2 none
    with db.read() as session:
        record = repo.get_import(session, import_id)
        assert record is not None
        assert (record.status, record.processed_lines, record.created) == ("failed", 3, 3)
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 3


def test_merges_into_known_customers_and_dry_run_changes_nothing(db: Database) -> None:
    with db.write() as session:
        service.upsert_customers(
            session,
            "erp",
            [
                (
                    "C1",
                    {
                        "code": "C1",
                        "name": "Ana ERP",
                        "document": cpf(30),
                        "document_kind": "cpf",
                        "plan": "Família",
                        "customer_since": dt.date(2010, 1, 1),
                    },
                )
            ],
        )
    raw = excel(
        [
            "nome;cpf;plano;cliente_desde;email",
            f"Ana Nova;{cpf(30)};Pré;01/01/2024;ana@x.com.br",
            f"Bia;{cpf(31)};;;",
        ]
    )
    dry = run(db, raw, dry_run=True)
    with db.read() as session:
        record = repo.get_import(session, dry)
        assert record is not None and (record.created, record.updated) == (1, 1)
    assert set(customers(db)) == {cpf(30)} and customers(db)[cpf(30)].name == "Ana ERP"
    run(db, raw)
    found = customers(db)
    assert set(found) == {cpf(30), cpf(31)}
    ana = found[cpf(30)]
    assert (ana.source, ana.name, ana.email) == ("erp", "Ana Nova", "ana@x.com.br")
    assert ana.plan == "Família" and ana.customer_since == dt.date(2010, 1, 1)  # the ERP's stay


def test_api_import_and_the_reject_report_defuses_formulas(
    db: Database, settings: Settings
) -> None:
    headers = admin_key(db)
    raw = excel(
        [
            "nome;cpf;uf;consentimento_marketing",
            f"Ana;{cpf(40)};=1+1;@SUM(A1)",
            f"Bia;{cpf(41)};SP;Sim",
        ]
    )
    with api_client(settings) as client:
        r = client.post(
            "/v1/customers/import", files={"file": ("a.csv", raw, "text/csv")}, headers=headers
        )
        assert r.status_code == 202, r.text
        queued = r.json()
        assert queued["status"] == "queued" and queued["processed_lines"] == 0
        assert r.headers["location"].endswith(f"/v1/customers/imports/{queued['id']}")
        assert jobs.run_import(db, settings, queued["id"]).state == "done"  # what a worker does
        body = client.get(r.headers["location"], headers=headers).json()
        assert (body["created"], body["rejected"], body["status"]) == (1, 1, "done")
        assert {(x["line"], x["column"]) for x in body["rejects"]} == {
            (2, "uf"),
            (2, "consentimento_marketing"),
        }
        assert (
            client.get(f"/v1/customers/imports/{body['id']}", headers=headers).json()["id"]
            == body["id"]
        )
        report = client.get(f"/v1/customers/imports/{body['id']}/rejects", headers=headers)
        assert report.headers["content-type"].startswith("text/csv")
        assert report.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(report.text.lstrip("\ufeff")), delimiter=";"))
        assert rows[0] == ["linha", "coluna", "motivo", "valor"]
        assert sorted(row[3] for row in rows[1:]) == ["'=1+1", "'@SUM(A1)"]
        plain = client.get(
            f"/v1/customers/imports/{body['id']}/rejects?formato=dados", headers=headers
        )
        assert plain.text.splitlines()[0] == "linha,coluna,motivo,valor"
        bad_bodies: list[dict[str, Any]] = [
            {"data": {"x": "1"}},
            {"files": {"outro": ("a.csv", raw)}},
            {"files": {"file": ("a.csv", b"nome;email\n")}},
        ]
        for kwargs in bad_bodies:
            bad = client.post("/v1/customers/import", headers=headers, **kwargs)
            assert bad.status_code == 422, bad.text
            assert bad.json()["error"]["field"] == "file"
        with db.read() as session:  # an unreadable file is refused before anything is stored
            assert [i.id for i in repo.recent_imports(session, 10)] == [body["id"]]
        assert client.get("/v1/customers/imports/999", headers=headers).status_code == 404
        assert client.get("/v1/customers/imports/999/rejects", headers=headers).status_code == 404
    small = settings.model_copy(update={"customers_import_max_bytes": 10_000})
    with api_client(small) as client:
        big = b"nome;cpf\n" + b"x" * 20_000
        r = client.post("/v1/customers/import", files={"file": ("a.csv", big)}, headers=headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == "file"
        huge = b"x" * 200_000
        r = client.post("/v1/customers/import", files={"file": ("a.csv", huge)}, headers=headers)
        assert r.status_code == 413


def test_thousands_of_lines_go_in_bulk(db: Database) -> None:
    """5,000 lines (the 50,000-line run is bench/customers_import.py)."""
    lines = ["nome;cpf;email;uf;consentimento_marketing"] + [
        f"Cliente {n};{cpf(1000 + n)};c{n}@x.com.br;SP;Sim" for n in range(5000)
    ]
    began = time.perf_counter()
    import_id = run(db, excel(lines), batch=2000)
    elapsed = time.perf_counter() - began
    with db.read() as session:
        record = repo.get_import(session, import_id)
        assert record is not None and record.created == 5000
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 5000
    assert elapsed < 15, f"5,000 lines took {elapsed:.1f} s"


@pytest.fixture
def cli_env(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    monkeypatch.setenv("SINCRO_DATABASE_URL", database_url)
    monkeypatch.setenv("SINCRO_VAR_DIR", str(tmp_path))
    reset_settings()
    reset_databases()
    yield db
    reset_settings()
    reset_databases()


def test_cli_import_with_dry_run_and_reject_report(cli_env: Database, tmp_path: Path) -> None:
    source = tmp_path / "clientes.csv"
    source.write_bytes(excel(["nome;cpf", f"Ana;{cpf(50)}", "Bia;111"]))
    report = tmp_path / "rejeitados.csv"
    runner = CliRunner()
    dry = runner.invoke(app, ["customers", "import", str(source), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would create 1" in dry.output and customers(cli_env) == {}
    done = runner.invoke(app, ["customers", "import", str(source), "--rejects", str(report)])
    assert done.exit_code == 0, done.output
    assert "created 1" in done.output and "rejected 1" in done.output
    assert set(customers(cli_env)) == {cpf(50)}
    assert report.read_text(encoding="utf-8-sig").splitlines()[1].startswith("3;cpf;")
    missing = runner.invoke(app, ["customers", "import", str(tmp_path / "nada.csv")])
    assert missing.exit_code == 1
