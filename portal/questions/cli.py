"""``flask questions ...``: the routing engine on the command line, and the overdue sweep."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import click
from flask.cli import AppGroup

from portal.cli import needs_public_url
from portal.extensions import db
from portal.questions import facts, intake, sweeps
from portal.questions.models import Category

questions_cli = AppGroup("questions", help="Questions: routing triage and the overdue sweep.")


def _triage_line(raw: str, products: dict[str, str]) -> dict[str, Any]:
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {"error": f"not JSON: {exc.msg}"}
    if not isinstance(item, dict):
        return {"error": 'each line must be an object like {"text": "..."}'}
    text, category, product = item.get("text"), item.get("category"), item.get("product")
    if not isinstance(text, str) or not text.strip():
        return {"error": '"text" must be a non-empty string'}
    if category is not None and category not in {c.value for c in Category}:
        return {"error": f'unknown "category" {category!r}: use one of {", ".join(Category)}'}
    if product is not None:
        if not isinstance(product, str) or product.strip().casefold() not in products:
            return {"error": f'unknown "product" {product!r}: use a product code'}
        product = products[product.strip().casefold()]
    return intake.triage(text, category=category, product=product).as_triage()


def run_triage(source: TextIO, sink: TextIO) -> int:
    """Route each JSON line of ``source`` and write one JSON line to ``sink``; returns how many
    lines were refused (they get ``{"error": ...}`` in place, so outputs stay aligned)."""
    products = {code.casefold(): code for code in _product_codes()}
    refused = 0
    for raw in source:
        if not raw.strip():
            continue
        result = _triage_line(raw, products)
        refused += "error" in result
        sink.write(json.dumps(result, ensure_ascii=False) + "\n")
        sink.flush()
    return refused


def _product_codes() -> list[str]:
    from sqlalchemy import select

    from portal.models import Product

    return list(db.session.scalars(select(Product.code)))


@questions_cli.command("triage")
def triage() -> None:
    """Route JSON lines from standard input without writing anything.

    Each input line is {"text": ..., "category": ..., "product": ...} (category and product
    optional); each output line is {"ae": true|false, "teams": [...], "reasons": [...]}, the
    first team being the owner. A line that cannot be read gets {"error": ...} and the exit
    status is 1.
    """
    facts.rules()  # fail early, before reading input, if the database is unreachable
    refused = run_triage(sys.stdin, sys.stdout)
    db.session.rollback()
    if refused:
        sys.exit(1)


@questions_cli.command("sweep")
@needs_public_url
def sweep() -> None:
    """Notify people about questions and PV cases that went overdue (the server does this by
    itself every minute or so)."""
    counts = sweeps.sweep_overdue()
    click.echo(
        f"Overdue now notified: {counts['questions']} questions, {counts['pv_cases']} PV cases."
    )
