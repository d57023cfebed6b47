"""What only a verified customer may hear: invoice copies (``segunda_via_fatura``), what they
owe (``consultar_debito``) and their orders (``status_pedido``). Every handler here runs only
after :mod:`identity` has set ``conversation.customer_id``; the reads are the customers,
billing and inventory services'."""

from __future__ import annotations

from decimal import Decimal

from sincro.assistant.conversations import Action
from sincro.assistant.dialogue.turn import Answer, Turn
from sincro.billing import service as billing
from sincro.billing.boleto import BoletoError
from sincro.billing.pix import PixError
from sincro.customers import service as customers
from sincro.customers.schemas import ReceivableOut
from sincro.inventory import service as inventory
from sincro.inventory.schemas import ReservationOut
from sincro.text_pt import date_br, fold, money_br

INVOICE_PDF_URL = "/v1/assistant/conversations/{conversation}/invoices/{receivable}.pdf"
ORDERS_READ = 10
STATUS_PT = {
    "active": "reservado",
    "committed": "confirmado (compra concluída)",
    "released": "cancelado",
    "expired": "expirado (a reserva venceu sem compra)",
}


def _customer_id(turn: Turn) -> int:
    customer_id = turn.conversation.customer_id
    assert customer_id is not None, "account answers need a verified customer"
    return customer_id


def _open(receivables: list[ReceivableOut]) -> list[ReceivableOut]:
    return [r for r in receivables if r.status == "open" and r.balance > 0]


def wants_email(turn: Turn) -> bool:
    folded = fold(turn.text)
    return "email" in folded.replace("-", "") or "por mail" in folded


def invoice_copy(turn: Turn) -> Answer:
    receivables = customers.customer_receivables(turn.session, _customer_id(turn))
    wanted = turn.entity("invoice")
    chosen: ReceivableOut | None = None
    if wanted is not None:
        bare = wanted.normalized.lstrip("0")
        chosen = next(
            (r for r in receivables if (r.number or "").lstrip("0") == bare),
            None,
        )
        if chosen is None:
            return Answer(
                "Não achei essa fatura no seu cadastro. Pode conferir o número?", kind="ask"
            )
    else:
        pending = sorted(_open(receivables), key=lambda r: (r.due_date, r.id))
        chosen = pending[0] if pending else None
    if chosen is None:
        return Answer(
            "Você não tem faturas em aberto. 🎉", [Action("send_invoice", {"invoices": []})]
        )
    try:
        pay = billing.payment(turn.session, chosen.id, turn.settings)
    except (BoletoError, PixError):
        return Answer.hand_off("cannot_do")
    url = INVOICE_PDF_URL.format(conversation=turn.conversation.id, receivable=chosen.id)
    data: dict[str, object] = {
        "receivable_id": chosen.id,
        "number": chosen.number,
        "status": chosen.status,
        "due_date": chosen.due_date.isoformat(),
        "balance": str(chosen.balance),
        "digitable_line": pay.digitable_line,
        "pix_code": pay.pix_code,
        "pdf_url": url,
        "emailed": False,
    }
    turn.flow["invoice"] = chosen.id
    reply = (
        f"Aqui está a 2ª via da fatura {chosen.number}, de {money_br(chosen.balance)}, "
        f"vencimento {date_br(chosen.due_date)}.\nLinha digitável: {pay.digitable_line}"
    )
    if pay.pix_code:
        reply += "\nPIX copia e cola enviado abaixo."
    reply += f"\nPDF: {url}"
    if wants_email(turn):
        data["emailed"] = email_invoice(turn, chosen.id)
        reply += "\nTambém mandei por e-mail para o endereço do seu cadastro."
    return Answer(reply, [Action("send_invoice", data)])


def email_invoice(turn: Turn, receivable_id: int) -> bool:
    return billing.send_copy(
        turn.session,
        receivable_id,
        turn.settings,
        dedupe_key=f"assistant:{turn.conversation.id}:{receivable_id}",
    )


def email_last_invoice(turn: Turn) -> Answer | None:
    """ "manda por e-mail" after an invoice copy: that invoice, by e-mail."""
    last = turn.flow.get("invoice")
    if not isinstance(last, int) or turn.conversation.customer_id is None:
        return None
    sent = email_invoice(turn, last)
    reply = "Pronto, mandei a fatura para o e-mail do seu cadastro."
    if not sent:
        reply = "Essa fatura já foi enviada para o seu e-mail nesta conversa."
    return Answer(reply, [Action("send_invoice", {"receivable_id": last, "emailed": sent})])


def debt(turn: Turn) -> Answer:
    receivables = sorted(
        _open(customers.customer_receivables(turn.session, _customer_id(turn))),
        key=lambda r: (r.due_date, r.id),
    )
    total = sum((r.balance for r in receivables), Decimal(0))
    items = [
        {
            "receivable_id": r.id,
            "number": r.number,
            "due_date": r.due_date.isoformat(),
            "balance": str(r.balance),
            "days_overdue": r.days_overdue,
        }
        for r in receivables
    ]
    action = Action("show_debts", {"total": str(total), "invoices": items})
    if not receivables:
        return Answer("Você está em dia: não há faturas em aberto. 👍", [action])
    overdue = [r for r in receivables if r.days_overdue > 0]
    lines = [
        f"• Fatura {r.number}: {money_br(r.balance)}, vence {date_br(r.due_date)}"
        + (f" (vencida há {r.days_overdue} dias)" if r.days_overdue else "")
        for r in receivables[:5]
    ]
    head = f"Você tem {len(receivables)} fatura(s) em aberto, total {money_br(total)}"
    if overdue:
        head += f", {len(overdue)} vencida(s)"
    reply = head + ":\n" + "\n".join(lines) + "\nSe quiser a 2ª via, é só pedir."
    return Answer(reply, [action])


def _order_data(order: ReservationOut) -> dict[str, object]:
    return {
        "id": order.id,
        "order_reference": order.order_reference,
        "status": order.status,
        "created_at": order.created_at.isoformat(),
        "expires_at": order.expires_at.isoformat(),
        "closed_at": order.closed_at.isoformat() if order.closed_at else None,
        "lines": [line.model_dump() for line in order.lines],
    }


def order_status(turn: Turn) -> Answer:
    orders = inventory.reservations_for_customer(turn.session, _customer_id(turn), ORDERS_READ)
    named = turn.entity("order")
    if named is not None:
        key = named.normalized.lower()
        orders = [o for o in orders if o.id == key or (o.order_reference or "").lower() == key]
        if not orders:
            return Answer(
                "Não achei esse pedido no seu cadastro. Pode conferir o número?", kind="ask"
            )
    if not orders:
        return Answer(
            "Não encontrei pedidos no seu cadastro.", [Action("order_status", {"orders": []})]
        )
    order = orders[0]
    name = order.order_reference or order.id[:8]
    status = STATUS_PT.get(order.status, order.status)
    reply = f"Seu pedido {name}, de {date_br(order.created_at)}, está {status}."
    if order.status == "active":
        reply += f" A reserva vale até {date_br(order.expires_at)}."
    answer = Answer(reply, [Action("order_status", {"orders": [_order_data(order)]})])
    answer.skus = sorted({line.sku for line in order.lines})
    return answer
