"""Wiring of the routing administration pages: who may open them, and what their forms do."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import Product, Role, TeamKey, User
from portal.questions import settings
from portal.questions.models import Holiday, ProductLabel, RoutingRule, SlaPolicy
from tests.conftest import login
from tests.factories import make_product, make_user

OUTSIDERS = [r for r in Role if r not in (Role.ADMIN, Role.COMPLIANCE)]
PAGES = [
    "/admin/routing/",
    "/admin/routing/rules/{rule_id}",
    "/admin/routing/slas",
    "/admin/routing/holidays",
    "/admin/routing/labels",
    "/admin/routing/labels/{product_id}",
]


def page(response: Any) -> str:
    """The response's HTML with entities decoded, so text reads as a person sees it."""
    return html.unescape(response.get_data(as_text=True))


class _Forms(HTMLParser):
    """Every POST form of a page: its action and CSRF token; and any inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self.inline: list[str] = []
        self._form: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.inline += [f"{tag} {k}" for k in attributes if k == "style" or k.startswith("on")]
        if tag == "script" and not attributes.get("src"):
            self.inline.append("script")
        if tag == "form" and attributes.get("method", "get").lower() == "post":
            self._form = {"action": attributes.get("action", ""), "csrf_token": ""}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and attributes.get("name") == "csrf_token":
            self._form["csrf_token"] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def parse(response: Any) -> _Forms:
    parser = _Forms()
    parser.feed(response.get_data(as_text=True))
    return parser


def routing_forms(response: Any) -> list[dict[str, str]]:
    """The page's POST forms, leaving out the navigation bar's sign-out form."""
    return [f for f in parse(response).forms if not f["action"].endswith("/logout")]


def order() -> list[tuple[int, str, bool]]:
    db.session.expire_all()
    rules = db.session.scalars(select(RoutingRule).order_by(RoutingRule.position))
    return [(r.position, r.name, r.active) for r in rules]


@pytest.fixture
def admin(client: FlaskClient) -> User:
    """An administrator, signed in on ``client``."""
    user = make_user(Role.ADMIN, name="Alex Admin")
    login(client, user.email)
    return user


@pytest.fixture
def product(app: Flask) -> Product:
    return make_product(code="CVX", name="Cardiovex")


@pytest.fixture
def rules(app: Flask) -> list[RoutingRule]:
    """The default rules (one per category), made as seed data makes them."""
    settings.ensure_default_rules()
    return list(db.session.scalars(select(RoutingRule).order_by(RoutingRule.position)))


def urls(rules: list[RoutingRule], product: Product) -> list[str]:
    return [p.format(rule_id=rules[0].id, product_id=product.id) for p in PAGES]


# --- who may open the pages ----------------------------------------------------------------------
def test_administrator_opens_every_page_with_its_forms(client, admin, rules, product):
    for url in urls(rules, product):
        response = client.get(url)

        assert response.status_code == 200, url
        assert 'aria-label="Routing settings"' in page(response)
        if not url.endswith("/labels"):  # the list links to each product's form
            assert routing_forms(response), f"{url} has no form"
    assert client.get("/admin/routing/rules/new").status_code == 200


def test_compliance_sees_every_page_without_a_form_or_button(client, rules, product):
    login(client, make_user(Role.COMPLIANCE).email)

    for url in urls(rules, product):
        response = client.get(url)

        assert response.status_code == 200, url
        assert 'data-testid="read-only-notice"' in page(response)
        assert routing_forms(response) == [], url
    listing = page(client.get("/admin/routing/"))
    assert "Default: Dosing and administration" in listing
    assert "New rule" not in listing and "Try a question" not in listing


def test_compliance_cannot_change_anything_by_posting(client, rules, product):
    login(client, make_user(Role.COMPLIANCE).email)
    rule = rules[0]
    before = order()
    posts = [
        ("/admin/routing/", {"text": "What dose?", "category": "dosing"}),
        ("/admin/routing/rules/new", {"name": "Mine", "team": "msl", "categories": "dosing"}),
        (f"/admin/routing/rules/{rule.id}", {"name": "Mine", "team": "msl"}),
        (f"/admin/routing/rules/{rule.id}/move", {"direction": "down"}),
        (f"/admin/routing/rules/{rule.id}/toggle", {"active": "0"}),
        (f"/admin/routing/rules/{rule.id}/delete", {}),
        ("/admin/routing/slas", {"key": "dosing", "amount": "9", "unit": "hours"}),
        ("/admin/routing/holidays", {"text": "2026-12-25 Christmas"}),
        (f"/admin/routing/labels/{product.id}", {"min_age": "18"}),
    ]

    for url, data in posts:
        assert client.post(url, data=data).status_code == 403, url

    assert client.get("/admin/routing/rules/new").status_code == 403
    assert order() == before
    assert db.session.get(SlaPolicy, "dosing").amount == 2
    assert db.session.scalars(select(Holiday)).all() == []
    assert db.session.get(ProductLabel, product.id) is None


@pytest.mark.parametrize("role", OUTSIDERS)
def test_other_roles_find_no_routing_pages(client, rules, product, role):
    login(client, make_user(role).email)
    rule = rules[0]

    for url in [*urls(rules, product), "/admin/routing/rules/new"]:
        assert client.get(url).status_code == 404, url
    response = client.post(f"/admin/routing/rules/{rule.id}/delete")

    assert response.status_code == 404
    assert len(order()) == len(rules)
    assert "/admin/routing/" not in page(client.get("/"))


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/admin/routing/")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_unknown_rule_and_product_are_not_found(client, admin):
    assert client.get("/admin/routing/rules/999").status_code == 404
    assert client.post("/admin/routing/rules/999/move", data={"direction": "up"}).status_code == 404
    assert client.get("/admin/routing/labels/999").status_code == 404


def test_pages_have_no_inline_script_or_style(client, admin, rules, product):
    for url in [*urls(rules, product), "/admin/routing/rules/new"]:
        assert parse(client.get(url)).inline == [], url


# --- rules ---------------------------------------------------------------------------------------
def test_rules_page_lists_the_rules_in_order_with_their_warnings(client, admin, rules):
    rule = settings.create_rule(
        admin, settings.RuleInput(name="Dosing to Sales", team="sales", categories=["dosing"])
    )

    text = page(client.get("/admin/routing/"))

    assert text.index("Default: Clinical data / efficacy") < text.index("Dosing to Sales")
    assert "Category: Dosing and administration" in text
    assert (
        "This rule cannot send medical questions ('Dosing and administration') to Sales: the "
        "hard limits send them to Medical Information." in text
    )
    assert f"/admin/routing/rules/{rule.id}/move" in text


def test_admin_adds_a_rule_through_the_form(client, admin, rules, product):
    response = client.post(
        "/admin/routing/rules/new",
        data={
            "name": "Cardiovex samples",
            "team": "sales",
            "categories": ["samples"],
            "products": ["CVX"],
            "countries": ["US"],
            "keywords": "starter kit\n\nsample*",
        },
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert f"Rule “Cardiovex samples” added at position {len(rules) + 1}." in page(response)
    rule = db.session.scalar(select(RoutingRule).where(RoutingRule.name == "Cardiovex samples"))
    assert rule is not None
    assert (rule.team, rule.products, rule.keywords) == (
        TeamKey.SALES,
        ["CVX"],
        ["starter kit", "sample*"],
    )


def test_a_bad_rule_is_shown_again_with_every_problem(client, admin):
    response = client.post(
        "/admin/routing/rules/new",
        data={"name": "", "team": "content", "keywords": "x" * 101},
    )

    assert response.status_code == 200
    text = page(response)
    assert "Give the rule a name." in text
    assert "Choose one of the answering teams." in text
    assert "Keep each keyword to 100 characters" in text
    assert order() == []


def test_a_rule_without_conditions_is_refused_above_the_form(client, admin):
    response = client.post("/admin/routing/rules/new", data={"name": "All", "team": "msl"})

    assert response.status_code == 200
    assert f'<div class="alert alert-danger" role="alert">{settings.NO_CONDITIONS}</div>' in page(
        response
    )


def test_admin_edits_a_rule(client, admin, rules):
    rule = rules[0]
    form = page(client.get(f"/admin/routing/rules/{rule.id}"))
    assert f'value="{rule.name}"' in form

    response = client.post(
        f"/admin/routing/rules/{rule.id}",
        data={"name": "Clinical to MSL", "team": "msl", "categories": ["clinical"]},
        follow_redirects=True,
    )

    assert "Rule “Clinical to MSL” saved." in page(response)
    db.session.refresh(rule)
    assert (rule.name, rule.team, rule.position) == ("Clinical to MSL", TeamKey.MSL, 1)


def test_admin_moves_a_rule_up_and_down(client, admin, rules):
    second = rules[1]

    response = client.post(
        f"/admin/routing/rules/{second.id}/move", data={"direction": "up"}, follow_redirects=True
    )

    assert f"Rule “{second.name}” is now number 1." in page(response)
    positions = [p for p, _, _ in order()]
    assert positions == list(range(1, len(rules) + 1))
    assert order()[0][1] == second.name

    client.post(f"/admin/routing/rules/{second.id}/move", data={"direction": "down"})
    assert order()[1][1] == second.name


def test_a_bad_move_is_flashed(client, admin, rules):
    response = client.post(
        f"/admin/routing/rules/{rules[0].id}/move",
        data={"direction": "sideways"},
        follow_redirects=True,
    )

    assert "Move a rule up or down." in page(response)


def test_admin_disables_enables_and_deletes_a_rule(client, admin, rules):
    rule = rules[2]
    name = rule.name

    disabled = client.post(
        f"/admin/routing/rules/{rule.id}/toggle", data={"active": "0"}, follow_redirects=True
    )
    assert f"Rule “{name}” is disabled" in page(disabled)
    assert order()[2][2] is False

    client.post(f"/admin/routing/rules/{rule.id}/toggle", data={"active": "1"})
    assert order()[2][2] is True

    deleted = client.post(f"/admin/routing/rules/{rule.id}/delete", follow_redirects=True)
    assert f"Rule “{name}” deleted" in page(deleted)
    assert [p for p, _, _ in order()] == list(range(1, len(rules)))


def test_trying_a_question_shows_the_engines_decision(client, admin, rules, product):
    settings.set_label_facts(
        admin, product.id, settings.LabelInput(indications=["hypertension"], min_age=18)
    )

    response = client.post(
        "/admin/routing/",
        data={
            "text": "Can I use the samples for off-label use in children? One was hospitalised.",
            "category": "samples",
            "product": "CVX",
        },
    )

    assert response.status_code == 200
    text = page(response)
    assert 'data-testid="preview-owner">Medical Information<' in text
    assert 'data-testid="preview-also">Pharmacovigilance<' in text
    assert 'data-testid="preview-ae">yes<' in text
    assert 'data-testid="preview-off-label">yes<' in text
    assert 'data-testid="preview-rule">“Default: Samples and supply”<' in text
    assert "off-label questions are answered by medical only" in text


def test_trying_a_question_without_text_says_so(client, admin):
    response = client.post("/admin/routing/", data={"text": " ", "category": "dosing"})

    assert response.status_code == 200
    assert "Write the question to try." in page(response)
    assert 'data-testid="preview-decision"' not in page(response)


# --- SLAs, holidays, label facts -----------------------------------------------------------------
def test_admin_changes_an_sla(client, admin):
    listing = page(client.get("/admin/routing/slas"))
    assert 'id="sla-urgent-amount"' in listing and "built-in default" in listing

    response = client.post(
        "/admin/routing/slas",
        data={"key": "dosing", "amount": "6", "unit": "hours"},
        follow_redirects=True,
    )

    assert "Dosing and administration: due within 6 business hours." in page(response)
    stored = db.session.get(SlaPolicy, "dosing")
    assert (stored.amount, stored.unit) == (6, "hours")


@pytest.mark.parametrize(
    ("amount", "message"),
    [("0", "Enter a whole number from 1 to 999."), ("two", "Not a valid integer value")],
)
def test_a_bad_sla_is_shown_on_its_row(client, admin, amount, message):
    response = client.post(
        "/admin/routing/slas", data={"key": "safety", "amount": amount, "unit": "days"}
    )

    assert response.status_code == 200
    text = page(response)
    assert message in text
    row = re.search(r'<input[^>]*id="sla-safety-amount"[^>]*>', text)
    assert row is not None and "is-invalid" in row.group(0)
    assert db.session.get(SlaPolicy, "safety") is None


def test_an_unknown_sla_is_flashed(client, admin):
    response = client.post(
        "/admin/routing/slas",
        data={"key": "gossip", "amount": "3", "unit": "days"},
        follow_redirects=True,
    )

    assert "Choose a category, or urgent." in page(response)


def test_admin_pastes_holidays(client, admin):
    response = client.post(
        "/admin/routing/holidays",
        data={"text": "2026-12-25 Christmas Day\n2026-12-26, Boxing Day"},
        follow_redirects=True,
    )

    text = page(response)
    assert "Holidays saved: 2 added, 0 removed, 0 renamed." in text
    assert "2026-12-25 Christmas Day\n2026-12-26 Boxing Day" in text  # the textarea
    assert [h.name for h in db.session.scalars(select(Holiday).order_by(Holiday.day))] == [
        "Christmas Day",
        "Boxing Day",
    ]


def test_a_bad_holiday_paste_changes_nothing_and_names_the_line(client, admin):
    settings.replace_holidays(admin, "2026-01-01 New Year")

    response = client.post(
        "/admin/routing/holidays", data={"text": "2026-12-25 Christmas\nDecember 26"}
    )

    assert response.status_code == 200
    assert "Line 2: 'December 26' does not start with a date" in page(response)
    assert [h.name for h in db.session.scalars(select(Holiday))] == ["New Year"]


def test_admin_sets_label_facts(client, admin, product):
    listing = page(client.get("/admin/routing/labels"))
    assert "Cardiovex" in listing and "No label facts yet." in listing

    response = client.post(
        f"/admin/routing/labels/{product.id}",
        data={
            "indications": ["hypertension", "heart_failure"],
            "min_age": "18",
            "max_age": "",
            "dose_min_mg": "5",
            "dose_max_mg": "20",
            "populations": "Adults; not in pregnancy.",
        },
        follow_redirects=True,
    )

    assert "Label facts of Cardiovex saved." in page(response)
    label = db.session.get(ProductLabel, product.id)
    assert label is not None
    assert (label.indications, label.min_age, label.max_age, label.dose_max_mg) == (
        ["heart_failure", "hypertension"],
        18,
        None,
        20.0,
    )
    assert 'value="18"' in page(client.get(f"/admin/routing/labels/{product.id}"))


def test_bad_label_facts_are_shown_next_to_their_fields(client, admin, product):
    response = client.post(
        f"/admin/routing/labels/{product.id}",
        data={"min_age": "65", "max_age": "18", "dose_min_mg": "-1", "dose_max_mg": "abc"},
    )

    assert response.status_code == 200
    text = page(response)
    assert "Not a valid float value" in text
    assert db.session.get(ProductLabel, product.id) is None

    response = client.post(
        f"/admin/routing/labels/{product.id}",
        data={"min_age": "65", "max_age": "18", "dose_min_mg": "-1"},
    )
    text = page(response)
    assert "The maximum age must not be below the minimum age." in text
    assert "Enter a dose in mg greater than 0, or leave it empty." in text
    assert db.session.get(ProductLabel, product.id) is None


# --- CSRF ----------------------------------------------------------------------------------------
class OwnContextClient(FlaskClient):
    """Each request in an app context of its own, so Flask-WTF's cached token is not shared."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()
        return response


@pytest.fixture
def csrf_client(app: Flask) -> FlaskClient:
    app.test_client_class = OwnContextClient
    return app.test_client()


def _sign_in(client: FlaskClient, user: User) -> None:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page(client.get("/login")))
    assert match is not None
    from tests.factories import PASSWORD

    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": match.group(1)}
    )
    assert response.status_code == 302


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_every_routing_form_carries_a_csrf_token_and_works_with_it(csrf_client, rules, product):
    _sign_in(csrf_client, make_user(Role.ADMIN))
    for url in [*urls(rules, product), "/admin/routing/rules/new"]:
        for form in routing_forms(csrf_client.get(url)):
            assert form["csrf_token"], f"a form on {url} posting to {form['action']} has no token"

    token = routing_forms(csrf_client.get("/admin/routing/"))[0]["csrf_token"]
    response = csrf_client.post(
        f"/admin/routing/rules/{rules[0].id}/toggle", data={"active": "0", "csrf_token": token}
    )

    assert response.status_code == 302
    assert order()[0][2] is False


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_routing_post_without_a_csrf_token_is_refused(csrf_client, rules):
    _sign_in(csrf_client, make_user(Role.ADMIN))

    response = csrf_client.post(f"/admin/routing/rules/{rules[0].id}/delete")

    assert response.status_code == 400
    assert len(order()) == len(rules)
