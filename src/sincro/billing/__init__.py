"""Cobrança: receivable notices (invoice issued, due soon, overdue) with what a Brazilian
customer needs to pay (boleto digitable line, PIX copy-and-paste code, a PDF copy)."""
