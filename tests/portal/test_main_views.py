"""Wiring of the home pages and the health check."""

from __future__ import annotations

import html
from typing import Any

import pytest

from portal.models import Role, Verification
from tests.conftest import login
from tests.factories import make_hcp, make_territory, make_user


def page(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_health_check_reports_the_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_health_check_needs_no_sign_in(client):
    assert client.get("/healthz").status_code == 200


def test_home_sends_an_anonymous_visitor_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2F"


@pytest.fixture
def coverage() -> dict[str, Any]:
    """A territory with its rep and MSL, and people who must not appear as its field team."""
    home = make_territory(name="Lakeshore")
    elsewhere = make_territory(name="Prairie")
    return {
        "territory": home,
        "rep": make_user(Role.REP, name="Riley Lakeshore-Rep", territories=[home]),
        "msl": make_user(Role.MSL, name="Dr. Morgan Lakeshore-MSL", territories=[home]),
        "other_msl": make_user(Role.MSL, name="Dr. Sam Prairie-MSL", territories=[elsewhere]),
        "access": make_user(Role.MARKET_ACCESS, name="Avery Lakeshore-Access", territories=[home]),
        "suspended_rep": make_user(
            Role.REP,
            name="Sid Lakeshore-Suspended",
            territories=[home],
            suspended=True,
            suspended_reason="On leave",
        ),
    }


def test_verified_hcp_home_lists_the_reps_and_msls_covering_their_territory(client, coverage):
    hcp = make_hcp(name="Dr. Covered", territory=coverage["territory"])
    login(client, hcp.email)

    home = page(client.get("/"))

    assert "Welcome, Dr. Covered" in home
    team = home.split('data-testid="field-team"', 1)[1].split("</ul>", 1)[0]
    assert "Riley Lakeshore-Rep" in team
    assert "Dr. Morgan Lakeshore-MSL" in team
    assert team.index("Dr. Morgan Lakeshore-MSL") < team.index("Riley Lakeshore-Rep")
    for absent in ("Dr. Sam Prairie-MSL", "Avery Lakeshore-Access", "Sid Lakeshore-Suspended"):
        assert absent not in home


def test_verified_hcp_without_coverage_is_pointed_to_medical_information(client, coverage):
    hcp = make_hcp(territory=None)
    login(client, hcp.email)

    home = page(client.get("/"))

    assert "No representative or liaison covers your area yet" in home
    assert "Riley Lakeshore-Rep" not in home


@pytest.mark.parametrize("verification", [Verification.PENDING, Verification.REJECTED])
def test_unverified_hcp_sees_no_professional_content(client, coverage, verification):
    hcp = make_hcp(
        territory=coverage["territory"],
        verification=verification,
        rejection_reason="Wrong NPI" if verification is Verification.REJECTED else None,
    )
    login(client, hcp.email)

    response = client.get("/")

    home = page(response)
    assert response.status_code == 200
    assert 'data-testid="verification-status"' in home
    assert 'data-testid="field-team"' not in home
    assert "Your field team" not in home
    assert "Riley Lakeshore-Rep" not in home
    assert "Dr. Morgan Lakeshore-MSL" not in home


def test_staff_home_shows_the_side_of_the_firewall(client):
    login(client, make_user(Role.MSL, name="Dr. Mira Medical").email)

    home = page(client.get("/"))

    assert "Welcome, Dr. Mira Medical" in home
    assert "Medical side of the firewall" in home
