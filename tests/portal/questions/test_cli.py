"""``flask questions triage`` (a contract: JSON lines in, JSON lines out) and ``sweep``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditRecord, TeamKey
from portal.questions.models import ProductLabel, Question, RoutingRule
from tests.conftest import ROOT
from tests.factories import make_product


def triage(app, *lines: object) -> tuple[int, list[dict]]:
    source = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    result = app.test_cli_runner().invoke(args=["questions", "triage"], input=source + "\n")
    return result.exit_code, [json.loads(line) for line in result.output.splitlines()]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_triage_prints_one_line_per_text_with_the_contract_fields(app):
    code, out = triage(
        app,
        {"text": "Pt had a rash and went to the ER", "category": "samples"},
        {"text": "What is the usual dose?", "category": "dosing"},
        {"text": "Where is my invoice?"},
    )
    assert code == 0
    assert [set(line) for line in out] == [{"ae", "teams", "reasons"}] * 3
    assert out[0]["ae"] is True
    assert out[0]["teams"] == ["sales", "pharmacovigilance"]
    assert out[1] == {
        "ae": False,
        "teams": ["medical_information"],
        "reasons": out[1]["reasons"],
    }
    assert out[2]["teams"] == ["medical_information"]  # no category: "other"


def test_triage_uses_the_rules_and_label_facts_in_the_database(app):
    product = make_product(code="CVX", name="Cardiovex")
    db.session.add(ProductLabel(product_id=product.id, indications=["hypertension"], min_age=18))
    db.session.add(
        RoutingRule(position=1, name="Access in writing", keywords=["formulary"],
                    team=TeamKey.MARKET_ACCESS)
    )  # fmt: skip
    db.session.commit()

    code, out = triage(
        app,
        {"text": "Is it on the formulary?", "category": "other"},
        {"text": "Samples for my 8-year-old patients?", "category": "samples", "product": "cvx"},
    )
    assert code == 0
    assert out[0]["teams"] == ["market_access"]
    assert "Access in writing" in out[0]["reasons"][0]
    assert out[1]["teams"] == ["medical_information"]


def test_triage_writes_nothing(app):
    before = (count(Question), count(AuditRecord))
    triage(app, {"text": "The patient died after the first dose", "category": "adverse_event"})
    assert (count(Question), count(AuditRecord)) == before


def test_unreadable_lines_get_an_error_in_place_and_exit_status_1(app):
    code, out = triage(
        app,
        "not json",
        {"text": ""},
        {"text": "ok text here", "category": "gossip"},
        {"text": "ok text here", "product": "NOPE"},
        {"text": "fine, a dose question", "category": "dosing"},
    )
    assert code == 1
    assert [("error" in line) for line in out] == [True, True, True, True, False]
    assert "gossip" in out[2]["error"]


def test_triage_runs_as_a_real_command_on_standard_input(tmp_path):
    # The way a safety officer runs it: texts piped into `flask questions triage`, on a fresh
    # embedded database (its own instance folder, so no test database is involved).
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "PORTAL_INSTANCE_PATH": str(tmp_path),
    }

    def flask(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
            check=False,
        )  # fmt: skip

    assert flask("init-db").returncode == 0
    done = flask(
        "questions",
        "triage",
        stdin='{"text": "La paciente está embarazada", "category": "dosing"}\n',
    )
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in done.stdout.splitlines()]
    assert line["ae"] is True
    assert line["teams"] == ["medical_information", "pharmacovigilance"]
