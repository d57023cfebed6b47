"""A report as an e-mail: a pt-BR HTML summary with a small SVG bar chart drawn on the server
(no script: mail clients run none), a plain-text alternative, and the report as a CSV
attachment in the form pt-BR Excel opens (``;``, decimal comma, BOM)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from email.message import EmailMessage
from html import escape

from sincro.console.export import BOM, csv_lines
from sincro.customers.reporting import BUCKETS, Billing, Defaulters, NewCustomers
from sincro.mail import build_message
from sincro.reports.schemas import REPORTS
from sincro.reports.service import (
    Table,
    billing_table,
    defaulters_table,
    new_customers_table,
)
from sincro.text_pt import date_br, decimal_br, integer_br, money_br

PALETTE = ("#0f766e", "#2563eb", "#d97706", "#7c3aed", "#dc2626")
Report = NewCustomers | Defaulters | Billing


def svg_bars(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], width: int = 560
) -> str:
    """Grouped vertical bars as an inline SVG (one group per label, one bar per series)."""
    height, top, bottom, left = 180, 10, 30, 8
    peak = max((v for _, values in series for v in values), default=0) or 1
    group = (width - left) / max(1, len(labels))
    bar = max(1.0, group * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" viewBox="0 0 {width} {height}">'
    ]
    plot = height - top - bottom
    for s_index, (name, values) in enumerate(series):
        color = PALETTE[s_index % len(PALETTE)]
        for index, value in enumerate(values):
            h = plot * float(value) / float(peak)
            x = left + index * group + group * 0.1 + s_index * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(name)}: '
                f"{escape(str(value))}</title></rect>"
            )
    step = max(1, len(labels) // 12)
    for index, text in enumerate(labels):
        if index % step == 0:
            x = left + index * group + group / 2
            parts.append(
                f'<text x="{x:.1f}" y="{height - 10}" font-size="10" text-anchor="middle" '
                f'fill="#475569">{escape(text)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: Sequence[str]) -> str:
    return " ".join(
        f'<span style="color:{PALETTE[i % len(PALETTE)]}">■</span> {escape(name)}'
        for i, name in enumerate(series)
    )


def summary(report: Report) -> tuple[list[tuple[str, str]], str, list[str]]:
    """(label, value) lines, the chart's SVG and its legend for one report."""
    if isinstance(report, NewCustomers):
        regions = [(name, counts) for name, counts in report.by_region.items() if any(counts)]
        lines = [
            ("Período", f"{date_br(report.start)} a {date_br(report.end)}"),
            ("Novos clientes", integer_br(report.total)),
            *((f"Região {name}", integer_br(sum(counts))) for name, counts in regions),
        ]
        chart = svg_bars(
            [name for name, _ in regions], [("Novos clientes", [sum(c) for _, c in regions])]
        )
        return lines, chart, ["Novos clientes por região"]
    if isinstance(report, Defaulters):
        lines = [
            ("Posição em", date_br(report.as_of)),
            ("Valor em atraso", money_br(report.amount)),
            ("Títulos em atraso", integer_br(report.titles)),
            (f"Inadimplentes (mais de {report.grace_days} dias)", integer_br(report.defaulters)),
            *(
                (f"{name} dias", money_br(report.totals[name].amount))
                for name in BUCKETS
                if name in report.totals
            ),
        ]
        chart = svg_bars(
            [f"{name} dias" for name in BUCKETS],
            [("Valor em atraso", [float(report.totals[name].amount) for name in BUCKETS])],
        )
        return lines, chart, ["Valor em atraso por faixa"]
    lines = [
        ("Meses", f"{report.start:%m/%Y} a {report.end:%m/%Y}"),
        ("Faturado", money_br(report.invoiced)),
        ("Recebido", money_br(report.received)),
        (f"Em aberto em {date_br(report.as_of)}", money_br(report.open_amount)),
        ("Vencido", money_br(report.overdue_amount)),
        ("Vencido / em aberto", f"{decimal_br(Decimal(report.overdue_share * 100), 1)} %"),
    ]
    chart = svg_bars(
        [f"{m.month:%m/%y}" for m in report.months],
        [
            ("Faturado", [float(m.invoiced) for m in report.months]),
            ("Recebido", [float(m.received) for m in report.months]),
        ],
    )
    return lines, chart, ["Faturado", "Recebido"]


def table_of(report: Report) -> Table:
    if isinstance(report, NewCustomers):
        return new_customers_table(report)
    if isinstance(report, Defaulters):
        return defaulters_table(report)
    return billing_table(report)


def csv_for_people(table: Table) -> str:
    return BOM + "".join(csv_lines(table.header_pt, table.rows, "excel"))


def report_message(
    report_name: str,
    report: Report,
    *,
    sender: str,
    recipients: Sequence[str],
    period: str,
    generated_at: dt.datetime,
) -> EmailMessage:
    """The e-mail of one scheduled report."""
    title = REPORTS[report_name][0]
    lines, chart, legend = summary(report)
    table = table_of(report)
    text = "\n".join(
        [
            f"Relatório {title} ({period})",
            "",
            *(f"{label}: {value}" for label, value in lines),
            "",
            f"A planilha completa está em anexo ({table.name}.csv).",
            "— Sincro",
        ]
    )
    rows = "".join(
        f'<tr><th style="text-align:left;padding:2px 12px 2px 0">{escape(label)}</th>'
        f'<td style="text-align:right">{escape(value)}</td></tr>'
        for label, value in lines
    )
    html = (
        '<!doctype html><html lang="pt-BR"><body style="font-family:Arial,sans-serif;'
        'color:#0f172a">'
        f"<h2>{escape(title)}</h2><p>Período do envio: {escape(period)}</p>"
        f"<table>{rows}</table><p>{chart}</p><p>{_legend(legend)}</p>"
        f"<p>A planilha completa está em anexo ({escape(table.name)}.csv).</p>"
        '<p style="color:#64748b">— Sincro</p></body></html>'
    )
    message = build_message(
        sender=sender,
        to=list(recipients),
        subject=f"Sincro — {title} — {period}",
        text=text,
        html=html,
    )
    message.add_attachment(
        csv_for_people(table),
        subtype="csv",
        charset="utf-8",
        filename=f"{table.name}.csv",
    )
    return message
