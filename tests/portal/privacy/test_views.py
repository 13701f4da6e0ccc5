"""The pages: the HCP deletes their own account; an administrator erases from the user's page;
the waiting requests."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditRecord, Role
from portal.privacy.models import ErasureRequest, ErasureStatus
from portal.retention.models import HoldScope, LegalHold
from tests.conftest import PASSWORD, login
from tests.factories import make_user
from tests.portal import helpers
from tests.portal.privacy.seed import seed_history


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


def test_hcp_deletes_their_account_with_their_password(app):
    history = seed_history()
    browser = helpers.browser(app, history.hcp)

    form = browser.get("/account/privacy/delete")
    wrong = browser.post("/account/privacy/delete", data={"confirm": "y", "password": "nope-nope"})
    done = browser.post("/account/privacy/delete", data={"confirm": "y", "password": PASSWORD})

    assert form.status_code == 200
    assert wrong.status_code == 200 and "That is not your password." in wrong.get_data(as_text=True)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    person = helpers.fresh(history.hcp)
    assert person.name.startswith("erased-")
    erased = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "privacy.erased")
    ).one()
    assert erased.details["requested_by"] == "the person"
    assert browser.get("/account").status_code == 302


def test_hcp_must_confirm_before_anything_happens(app):
    history = seed_history()
    browser = helpers.browser(app, history.hcp)

    response = browser.post("/account/privacy/delete", data={"password": PASSWORD})

    assert response.status_code == 200
    assert not helpers.fresh(history.hcp).suspended


def test_hcp_under_a_legal_hold_is_told_the_request_waits(app):
    history = seed_history()
    db.session.add(LegalHold(scope=HoldScope.EVERYTHING, reason="Regulator inspection"))
    db.session.commit()
    browser = helpers.browser(app, history.hcp)

    response = browser.post("/account/privacy/delete", data={"confirm": "y", "password": PASSWORD})

    assert response.status_code == 302 and response.headers["Location"].endswith("/account/privacy")
    assert not helpers.fresh(history.hcp).suspended
    assert 'data-testid="erasure-pending"' in browser.get("/account/privacy").get_data(as_text=True)
    admin = helpers.browser(app, make_user(Role.ADMIN))
    page = admin.get("/admin/privacy/requests").get_data(as_text=True)
    assert page.count('data-testid="pending-request"') == 1


def test_administrator_erases_from_the_users_page_with_a_reason(app):
    history = seed_history()
    admin = helpers.browser(app, make_user(Role.ADMIN))
    page = admin.get(f"/admin/users/{history.hcp.id}").get_data(as_text=True)

    refused = admin.post(f"/admin/users/{history.hcp.id}/erase", data={"reason": ""})
    refused_flashes = flashes(admin)
    done = admin.post(
        f"/admin/users/{history.hcp.id}/erase", data={"reason": "Request received by letter"}
    )

    assert 'data-testid="erase-card"' in page
    assert refused.status_code == 302 and refused_flashes[0][0] == "danger"
    assert done.status_code == 302
    assert flashes(admin)[0][0] == "success"
    request = db.session.scalars(select(ErasureRequest)).one()
    assert request.status is ErasureStatus.DONE
    assert request.reason == "Request received by letter"
    after = admin.get(f"/admin/users/{history.hcp.id}").get_data(as_text=True)
    assert 'data-testid="erased"' in after and 'data-testid="erase-card"' not in after


def test_compliance_sees_the_requests_but_cannot_erase(app):
    history = seed_history()
    compliance = helpers.browser(app, make_user(Role.COMPLIANCE))

    page = compliance.get(f"/admin/users/{history.hcp.id}").get_data(as_text=True)
    response = compliance.post(
        f"/admin/users/{history.hcp.id}/erase", data={"reason": "Request received by letter"}
    )

    assert 'data-testid="erase-card"' not in page
    assert response.status_code == 403
    assert compliance.get("/admin/privacy/requests").status_code == 200
    assert not helpers.fresh(history.hcp).suspended


def test_an_erased_hcp_cannot_sign_in(app):
    history = seed_history()
    email = history.hcp.email
    browser = helpers.browser(app, history.hcp)
    browser.post("/account/privacy/delete", data={"confirm": "y", "password": PASSWORD})

    response = login(app.test_client(), email)

    assert response.status_code == 200  # the form again: no such account
