"""The signed-in person's own account (``/account``): the profile of an HCP and of a colleague,
their name (the only thing they change here, audited), the links to the sign-in settings, and
for an HCP where the portal's data about them came from."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from chat import consent
from portal.accounts import preferences, profile
from portal.errors import InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Role, User, Verification, utcnow
from portal.services import users
from tests.chat.factories import active_conversation
from tests.conftest import login
from tests.factories import make_hcp, make_product, make_territory, make_user

URL = "/account"


@pytest.fixture
def people(app: Any) -> dict[str, Any]:
    """A verified US HCP whose territory covers their postal code's prefix, the administrator who
    verified them, the MSL and rep of their territory, a German HCP of a whole-country
    territory, still pending."""
    territory = make_territory(country="US", postal_prefixes="100 1001", name="Manhattan")
    germany = make_territory(country="DE", name="Deutschland")
    admin = make_user(Role.ADMIN, name="Ada Admin")
    hcp = make_hcp(
        verification=Verification.PENDING, territory=territory, postal_code="10017",
        name="Dr. Avery Cole", institution="Mount Sinai",
    )  # fmt: skip
    users.verify_hcp(admin, hcp)
    product = make_product(name="Cardiozan")
    return {
        "hcp": hcp,
        "admin": admin,
        "msl": make_user(Role.MSL, territories=[territory], name="Morgan MSL"),
        "rep": make_user(Role.REP, territories=[territory], products=[product], name="Jordan Lee"),
        "pending": make_hcp(
            verification=Verification.PENDING,
            country="DE",
            territory=germany,
            postal_code="10117",
        ),
        "product": product,
    }


def renamed() -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == "user.renamed")))


def section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</dd>", start)] if "source-" in testid else html[start:]


# --- who opens it -------------------------------------------------------------------------------
def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("who", ["hcp", "pending", "msl", "rep", "admin"])
def test_everyone_signed_in_has_an_account_page_with_the_sign_in_settings(client, people, who):
    login(client, people[who].email)

    response = client.get(URL)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert people[who].email in html
    for endpoint, testid in (
        ("/account/password", "link-password"),
        ("/account/language", "link-language"),
        ("/account/sessions", "link-sessions"),
        ("/account/two-factor", "link-two-factor"),
    ):
        assert re.search(rf'href="{endpoint}"[^>]*data-testid="{testid}"', html), endpoint
    assert ('data-testid="link-preferences"' in html) is people[who].is_hcp
    assert ('data-testid="data-sources"' in html) is people[who].is_hcp


def test_an_hcp_sees_their_professional_details_read_only(client, people):
    hcp = people["hcp"]
    login(client, hcp.email)

    html = client.get(URL).get_data(as_text=True)

    profile_card = section(html, "profile")
    for shown in ("Physician", "Cardiology", "Mount Sinai", "10017", hcp.hcp_profile.npi):
        assert shown in profile_card
    assert 'name="specialty"' not in html and 'name="npi"' not in html
    assert "verified" in section(html, "read-only-note")
    assert "Verified" in section(html, "verification")


def test_a_colleague_sees_their_role_teams_territories_and_products(client, people):
    login(client, people["rep"].email)

    html = client.get(URL).get_data(as_text=True)

    assert "Sales representative" in html
    assert "Sales" in section(html, "teams")
    assert "Manhattan" in section(html, "territories")
    assert "Cardiozan" in section(html, "products")
    assert "administrator" in section(html, "read-only-note")


# --- the name ------------------------------------------------------------------------------------
def test_changing_ones_name_is_saved_and_audited(client, people):
    rep = people["rep"]
    login(client, rep.email)

    response = client.post(URL, data={"name": "  Jordan   Lee-Smith "})

    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    assert "Your name is saved" in client.get(URL).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, rep.id).name == "Jordan Lee-Smith"  # type: ignore[union-attr]
    (record,) = renamed()
    assert record.actor_id == rep.id and record.target_id == str(rep.id)
    # Names are personal data: kept in the record's erasable part, not its hashed details.
    assert record.personal == {"before": "Jordan Lee", "after": "Jordan Lee-Smith"}
    assert record.details == {}


def test_an_hcp_changes_their_name_too(client, people):
    login(client, people["hcp"].email)

    client.post(URL, data={"name": "Dr. Avery Cole-Hart"})

    db.session.expire_all()
    assert db.session.get(User, people["hcp"].id).name == "Dr. Avery Cole-Hart"  # type: ignore[union-attr]
    assert len(renamed()) == 1


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param("", 200, id="empty"),
        pytest.param("   ", 200, id="blank"),
        pytest.param("x" * 121, 200, id="too-long"),
        pytest.param("Dr.\x07Cole", 200, id="control-character"),
        pytest.param("Dr.\x00Cole", 400, id="nul"),  # refused before any view (portal.inputs)
    ],
)
def test_a_bad_name_is_refused_on_the_page_and_nothing_changes(client, people, name, status):
    hcp = people["hcp"]
    login(client, hcp.email)

    response = client.post(URL, data={"name": name})

    assert response.status_code == status
    if status == 200:
        assert "is-invalid" in section(response.get_data(as_text=True), "name-form")
    db.session.expire_all()
    assert db.session.get(User, hcp.id).name == "Dr. Avery Cole"  # type: ignore[union-attr]
    assert renamed() == []


def test_saving_the_same_name_records_nothing(people):
    profile.rename(people["msl"], name=" Morgan  MSL ")

    assert renamed() == []


def test_a_suspended_account_cannot_rename_itself(people):
    rep = people["rep"]
    rep.suspended = True
    db.session.commit()

    with pytest.raises(PermissionDenied):
        profile.rename(rep, name="Someone Else")

    assert renamed() == []


def test_the_rename_rule_is_ones_own_account_while_active(people):
    from portal import policy

    hcp, admin = people["hcp"], people["admin"]
    assert policy.can_rename_account(hcp, hcp)
    assert not policy.can_rename_account(admin, hcp)
    hcp.suspended = True
    assert not policy.can_rename_account(hcp, hcp)


def test_a_bad_name_raises_in_the_service(people):
    with pytest.raises(InvalidInput) as refused:
        profile.rename(people["rep"], name="\t")

    assert refused.value.field == "name"


# --- where the HCP's data came from -------------------------------------------------------------
def test_the_sources_say_how_and_by_which_role_the_hcp_was_verified(people):
    sources = profile.data_sources(people["hcp"])

    assert sources is not None
    assert sources.method is profile.VerificationMethod.NPI
    assert sources.verification is Verification.VERIFIED
    assert sources.decided_by_role is Role.ADMIN and sources.decided_at is not None
    assert sources.territory is not None and sources.territory.name == "Manhattan"
    assert sources.territory_prefix == "1001"  # the longest prefix that matched
    assert sources.preferences_changed_at is None and sources.chat_consents == []
    assert sources.registered_at == people["hcp"].created_at


def test_a_licence_and_a_whole_country_territory(people):
    sources = profile.data_sources(people["pending"])

    assert sources is not None
    assert sources.method is profile.VerificationMethod.LICENCE
    assert sources.verification is Verification.PENDING and sources.decided_by_role is None
    assert sources.territory is not None and sources.territory_prefix is None
    assert sources.quiet_hours_zone == "Europe/Berlin"


def test_staff_have_no_data_sources(people):
    assert profile.data_sources(people["rep"]) is None


def test_the_sources_list_the_chats_the_hcp_agreed_to_until_they_end(people):
    hcp, msl = people["hcp"], people["msl"]
    conversation = active_conversation(hcp, msl)

    (chat,) = profile.data_sources(hcp).chat_consents  # type: ignore[union-attr]
    assert (chat.staff_name, chat.staff_role, chat.by_invitation) == ("Morgan MSL", Role.MSL, False)
    assert chat.since <= utcnow()

    consent.end_chat(hcp, conversation.id)
    assert profile.data_sources(hcp).chat_consents == []  # type: ignore[union-attr]


def test_the_page_tells_the_hcp_where_their_data_came_from(client, people):
    hcp, msl = people["hcp"], people["msl"]
    active_conversation(hcp, msl)
    preferences.save(hcp, preferences.PreferencesInput(channels=["portal"]))
    login(client, hcp.email)

    html = client.get(URL).get_data(as_text=True)

    assert "when you registered" in section(html, "source-registration")
    verification = section(html, "source-verification")
    assert "check digit" in verification and "Administrator" in verification
    assert "Ada Admin" not in html  # the role, not the person
    territory = section(html, "source-territory")
    assert "Manhattan" in territory and "10017" in territory and "1001" in territory
    assert "Last changed by you" in section(html, "source-preferences")
    chats = html[html.index('data-testid="source-chats"') :]
    assert "Morgan MSL" in chats[: chats.index("</ul>")]


def test_a_pending_hcp_is_told_they_are_not_verified_yet(client, people):
    login(client, people["pending"].email)

    html = client.get(URL).get_data(as_text=True)

    assert "Waiting for verification" in section(html, "verification")
    assert "not verified you yet" in section(html, "source-verification")
    assert "all of it" in section(html, "source-territory")
    assert 'data-testid="no-chat-consents"' in html


def test_the_account_page_speaks_the_hcps_language(client, people):
    hcp = people["pending"]
    hcp.locale = "de"
    db.session.commit()
    login(client, hcp.email)

    html = client.get(URL).get_data(as_text=True)

    assert '<html lang="de"' in html
    registered = section(html, "source-registration")
    assert re.search(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", registered), registered
