"""Bounded input over HTTP: an integer in a path, a query string or a form that cannot name a row
(outside 1..2^31-1, the keys PostgreSQL stores; or not a number) is a 404 or a form error, never
a 500, for everyone.

The route walk reads the app's own URL map, so a route added later with an ``<int:...>`` argument
is covered without editing this file. Both backends: SQLite raised "Python int too large to
convert to SQLite INTEGER" on 2^63, PostgreSQL "integer out of range" on 2^31."""

from __future__ import annotations

import re

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.routing import Rule

from portal import inputs
from portal.extensions import db
from portal.models import Role, User
from portal.questions import intake
from portal.questions.models import Question, QuestionStatus
from portal.services.consent import current_wording
from tests.conftest import IsolatedClient, login
from tests.factories import make_hcp, make_territory, make_user
from tests.portal.questions.factories import ask

# Past PostgreSQL's INTEGER (2^31 - 1, the narrowest key column), past SQLite's, and far past.
TOO_BIG = [2**31, 2**63, 10**30]
ROLES = [None, *Role]  # None: not signed in

_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def int_rules(app: Flask) -> list[Rule]:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if any(m["converter"] == "int" for m in _ARGUMENT.finditer(rule.rule))
    ]
    assert len(rules) > 40, "the walk found too few routes to mean anything"
    return rules


def url_of(rule: Rule, number: int) -> str:
    """The rule's path with every integer argument set to ``number`` (others: a valid value)."""

    def argument(match: re.Match[str]) -> str:
        if match["converter"] == "int":
            return str(number)
        if match["converter"] == "any":
            return match["args"].split(",")[0].strip().strip("'\"")
        return "x"

    return _ARGUMENT.sub(argument, rule.rule)


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


class SignedIn(dict[Role | None, FlaskClient]):
    """``signed_in[role]``: a client signed in as a new user of ``role`` (``None``: anonymous),
    made on first use."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        app.test_client_class = IsolatedClient
        self.app = app

    def __missing__(self, role: Role | None) -> FlaskClient:
        client = self.app.test_client()
        if role is not None:
            user: User = make_hcp() if role is Role.HCP else make_user(role)
            login(client, user.email)
        self[role] = client
        return client


@pytest.fixture
def signed_in(app: Flask) -> SignedIn:
    return SignedIn(app)


# --- the URL converter ----------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
def test_an_id_out_of_range_in_any_path_is_a_404_for_everyone(app, signed_in, role):
    client = signed_in[role]
    answers = {
        (method, url_of(rule, number)): client.open(url_of(rule, number), method=method).status_code
        for rule in int_rules(app)
        for number in TOO_BIG
        for method in methods_of(rule)
    }

    assert {k: v for k, v in answers.items() if v != 404} == {}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value if r else "anonymous")
def test_the_largest_id_reaches_every_view_without_a_server_error(app, signed_in, role):
    client = signed_in[role]
    answers = {
        (method, url_of(rule, inputs.MAX_ID)): client.open(
            url_of(rule, inputs.MAX_ID), method=method
        ).status_code
        for rule in int_rules(app)
        for method in methods_of(rule)
    }

    assert {k: v for k, v in answers.items() if v >= 500} == {}


@pytest.mark.parametrize("text", ["0", "00", str(2**31), str(2**63), "9" * 40])
def test_the_int_converter_refuses_what_cannot_be_an_id(app, text):
    adapter = app.url_map.bind("portal.test")
    with pytest.raises(Exception) as refused:
        adapter.match(f"/questions/{text}")
    assert getattr(refused.value, "code", None) == 404


def test_the_int_converter_accepts_every_id_up_to_2_31_minus_1(app):
    adapter = app.url_map.bind("portal.test")

    assert adapter.match("/questions/1") == ("questions.detail", {"question_id": 1})
    assert adapter.match(f"/questions/{2**31 - 1}") == (
        "questions.detail",
        {"question_id": 2**31 - 1},
    )
    with app.test_request_context():
        assert url_for("questions.detail", question_id=2**31 - 1) == f"/questions/{2**31 - 1}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True), (2**31 - 1, True), (0, False), (-1, False), (2**31, False), (2**63, False),
        (10**30, False), (True, False), ("1", False), (1.0, False), (None, False),
    ],
)  # fmt: skip
def test_is_id_accepts_whole_numbers_from_1_to_2_31_minus_1_only(value, expected):
    assert inputs.is_id(value) is expected


# --- query strings --------------------------------------------------------------------------------
QUERIES = [
    (Role.ADMIN, "/admin/users?page={n}"),
    (Role.COMPLIANCE, "/audit?page={n}"),
    (Role.PHARMACOVIGILANCE, "/safety/cases?page={n}"),
    (Role.HCP, "/library/?page={n}"),
    (Role.HCP, "/library/?product={n}"),
    (Role.HCP, "/questions/ask?product={n}"),
    (Role.HCP, "/questions/ask?material={n}"),
]


@pytest.mark.parametrize(("role", "path"), QUERIES)
@pytest.mark.parametrize("number", [*TOO_BIG, 0, -1, "abc"])
def test_a_query_number_out_of_range_is_a_404(signed_in, role, path, number):
    assert signed_in[role].get(path.format(n=number)).status_code == 404


@pytest.mark.parametrize(("role", "path"), QUERIES)
def test_a_query_number_in_range_or_absent_is_served(signed_in, role, path):
    client = signed_in[role]
    assert client.get(path.format(n=1)).status_code == 200
    assert client.get(path.format(n="")).status_code == 200
    assert client.get(path.split("?")[0]).status_code == 200


# --- forms ----------------------------------------------------------------------------------------
def _question(**overrides: str) -> dict[str, str]:
    return {
        "text": "What is the recommended dose in renal impairment?",
        "category": "dosing",
        "channel": "portal",
        "urgency": "routine",
        "consent": "y",
        "consent_wording_id": str(current_wording(intake.CONSENT_PURPOSE).id),
        **overrides,
    }


@pytest.mark.parametrize("number", [str(2**31), str(2**63), str(10**30), "0", "-4", "one"])
def test_staff_assignment_with_an_out_of_range_territory_is_refused(app, signed_in, number):
    rep = make_user(Role.REP)
    territory = make_territory()

    response = signed_in[Role.ADMIN].post(
        f"/admin/users/{rep.id}/assignment",
        data={"role": "rep", "teams": "sales", "territories": [str(territory.id), number]},
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert "could not be saved" in response.get_data(as_text=True)
    assert db.session.get(User, rep.id).territories == []  # type: ignore[union-attr]


@pytest.mark.parametrize("field", ["product_id", "consent_wording_id"])
@pytest.mark.parametrize("number", [str(2**31), str(2**63), str(10**30)])
def test_a_question_naming_an_out_of_range_id_is_refused_on_the_form(signed_in, field, number):
    response = signed_in[Role.HCP].post("/questions/ask", data=_question(**{field: number}))

    assert response.status_code == 200  # the form again, with its error: nothing was asked
    assert db.session.scalar(select(func.count()).select_from(Question)) == 0


@pytest.mark.parametrize("number", [str(2**31), str(2**63), str(10**30)])
def test_a_question_about_an_out_of_range_material_is_about_nothing(signed_in, number):
    # The hidden field comes back as whoever sent the request typed it: junk names nothing.
    response = signed_in[Role.HCP].post("/questions/ask", data=_question(about_family_id=number))

    assert response.status_code == 302
    question = db.session.scalar(select(Question))
    assert question is not None and question.about_family_id is None


def test_a_material_with_an_out_of_range_product_is_a_form_error(signed_in):
    response = signed_in[Role.CONTENT_MANAGER].post(
        "/library/manage/new",
        data={"title": "Leaflet", "summary": "About it", "product_id": str(10**30)},
    )

    assert response.status_code == 200
    assert "not a valid" in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("number", [str(2**31), str(2**63), str(10**30), "0"])
def test_an_answer_attaching_an_out_of_range_material_is_refused(app, signed_in, number):
    question = ask(make_hcp())

    response = signed_in[Role.MEDICAL_INFORMATION].post(
        f"/questions/{question.id}/reply",
        data={"body": "See the label.", "materials": number, "attestation": "none"},
    )

    assert response.status_code < 500
    assert db.session.get(Question, question.id).status is not QuestionStatus.ANSWERED


@pytest.mark.parametrize("number", [str(2**31), str(2**63), str(10**30)])
def test_reporting_an_out_of_range_follow_up_to_pv_is_not_a_server_error(signed_in, number):
    question = ask(make_hcp())

    response = signed_in[Role.MEDICAL_INFORMATION].post(
        f"/questions/{question.id}/report-pv", data={"entry_id": number}
    )

    assert response.status_code < 500
