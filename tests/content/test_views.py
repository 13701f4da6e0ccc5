"""Wiring of the library pages: status codes, redirects, flashes, downloads and uploads."""

from __future__ import annotations

import io

import pytest

from content.models import Material, MaterialStatus
from content.services import Upload
from portal.extensions import db
from portal.models import Role, Verification
from tests.conftest import login
from tests.content.factories import make_author, make_material, make_reviewer
from tests.factories import make_hcp, make_product, make_user

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def _form(product_id: int, **overrides):
    data = {
        "title": "Cardiovex titration in practice",
        "summary": "How to titrate.",
        "body": "## Titration\n\nStart low.",
        "product_id": str(product_id),
        "therapeutic_area": "",
        "kind": "dosing_guide",
        "classification": "promotional",
        "approval_code": "PRT-US-7001",
        "effective_at": "2020-01-01T00:00",
        "expires_at": "2099-01-01T00:00",
    }
    data.update(overrides)
    return data


def test_library_asks_for_sign_in(client):
    response = client.get("/library/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "path", ["/library/", "/library/mine", "/library/{id}", "/library/family/{family}"]
)
def test_pending_hcp_is_told_the_library_awaits_their_verification(client, path):
    material = make_material()
    hcp = make_hcp(verification=Verification.PENDING)
    login(client, hcp.email)

    response = client.get(path.format(id=material.id, family=material.family_id))

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert 'data-verification="pending"' in page
    assert "awaiting verification" in page
    assert "We will email you when it is done" in page
    assert "not found" not in page.lower()
    assert material.title not in page


def test_rejected_hcp_is_told_why_the_library_is_closed(client):
    hcp = make_hcp(verification=Verification.REJECTED)
    hcp.hcp_profile.rejection_reason = "Licence number could not be matched."
    db.session.commit()
    login(client, hcp.email)

    response = client.get("/library/")

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert 'data-verification="rejected"' in page
    assert "Licence number could not be matched." in page
    assert "not found" not in page.lower()


def test_verified_hcp_is_not_shown_the_verification_notice(client):
    login(client, make_hcp().email)

    response = client.get("/library/")

    assert response.status_code == 200
    assert 'data-testid="library-closed"' not in response.get_data(as_text=True)


def test_hcp_sees_and_finds_a_published_material(client):
    material = make_material(title="Cardiovex at a glance", summary="What Cardiovex does.")
    hcp = make_hcp()
    login(client, hcp.email)
    page = client.get("/library/")
    assert page.status_code == 200
    assert b"Cardiovex at a glance" in page.data
    found = client.get("/library/?q=cardiovex")
    assert b"<mark>Cardiovex</mark>" in found.data
    opened = client.get(f"/library/{material.id}")
    assert opened.status_code == 200
    assert b"What Cardiovex does." in opened.data


@pytest.mark.parametrize(
    "state", ["draft", "in_review", "approved", "expired", "withdrawn", "retired"]
)
def test_direct_url_of_a_material_that_is_not_live_is_404_for_an_hcp(client, state):
    material = make_material(status=state)
    login(client, make_hcp().email)
    assert client.get(f"/library/{material.id}").status_code == 404


def test_direct_url_of_material_for_another_audience_is_404(client):
    material = make_material(countries=["DE"])
    login(client, make_hcp(country="US").email)
    assert client.get(f"/library/{material.id}").status_code == 404
    assert client.get(f"/library/{material.id}/download").status_code == 404


def test_download_is_an_attachment_with_a_safe_name(client):
    upload = Upload(io.BytesIO(PDF), 'evil"\r\nX-Injected: 1 ../guide.PDF')
    material = make_material(upload=upload)
    login(client, make_hcp().email)
    response = client.get(f"/library/{material.id}/download")
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "\r" not in disposition and "\n" not in disposition and '"evil' not in disposition
    assert disposition.rstrip('"').endswith(".pdf")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Injected" not in response.headers


def test_material_without_file_has_no_download(client):
    material = make_material()
    login(client, make_hcp().email)
    assert client.get(f"/library/{material.id}/download").status_code == 404


def test_bookmark_toggles_from_the_material_page(client):
    material = make_material()
    login(client, make_hcp().email)
    added = client.post(f"/library/{material.id}/bookmark", data={"on": "1"}, follow_redirects=True)
    assert b"Added to My library." in added.data
    assert material.title.encode() in client.get("/library/mine").data
    client.post(f"/library/{material.id}/bookmark", data={"on": "0"})
    assert b"No bookmarks yet" in client.get("/library/mine").data


def test_shared_link_to_a_withdrawn_material_says_it_is_no_longer_available(client):
    material = make_material(status="withdrawn")
    login(client, make_hcp().email)
    response = client.get(f"/library/family/{material.family_id}")
    assert response.status_code == 410
    assert b"no longer available" in response.data


def test_shared_link_leads_to_the_current_version(client):
    retired = make_material(status="retired")
    current = (
        db.session.query(Material)
        .filter_by(family_id=retired.family_id, status=MaterialStatus.APPROVED)
        .one()
    )
    login(client, make_hcp().email)
    response = client.get(f"/library/family/{retired.family_id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/library/{current.id}")


@pytest.mark.parametrize("role", [Role.REP, Role.MSL, Role.ADMIN, Role.HCP])
def test_workspace_is_invisible_outside_content_review_and_compliance(client, role):
    login(client, make_user(role).email)
    assert client.get("/library/manage").status_code == 404
    assert client.get("/library/manage/new").status_code == 404


def test_content_manager_creates_a_draft_through_the_form(client):
    product = make_product()
    login(client, make_author().email)
    data = _form(product.id, file=(io.BytesIO(PDF), "guide.pdf"))
    response = client.post("/library/manage/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    material = db.session.query(Material).filter_by(approval_code="PRT-US-7001").one()
    assert material.status is MaterialStatus.DRAFT
    assert material.file_mime == "application/pdf"


def test_a_pdf_that_is_an_executable_is_refused_on_the_form(client):
    product = make_product()
    login(client, make_author().email)
    fake = (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 200), "guide.pdf")
    response = client.post(
        "/library/manage/new", data=_form(product.id, file=fake), content_type="multipart/form-data"
    )
    assert response.status_code == 200
    assert b"checked by their content" in response.data
    assert db.session.query(Material).count() == 0


def test_form_shows_every_bad_field(client):
    product = make_product()
    login(client, make_author().email)
    data = _form(product.id, approval_code="no spaces allowed", expires_at="2019-01-01T00:00")
    response = client.post("/library/manage/new", data=data)
    assert response.status_code == 200
    assert b"Enter the approval code" in response.data
    assert b"The expiry date must come after the effective date." in response.data
    assert db.session.query(Material).count() == 0


@pytest.mark.app_config(MAX_CONTENT_LENGTH=2048)
def test_oversized_upload_gets_the_413_page(client):
    product = make_product()
    login(client, make_author().email)
    big = (io.BytesIO(PDF + b"0" * 10_000), "big.pdf")
    response = client.post(
        "/library/manage/new", data=_form(product.id, file=big), content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert b"That upload is too large" in response.data


def test_reviewer_approves_through_the_page_and_author_cannot(client):
    author = make_author()
    material = make_material(author, status="in_review")
    login(client, author.email)
    refused = client.post(f"/library/manage/{material.id}/approve", data={}, follow_redirects=True)
    assert b"Nobody approves their own material." in refused.data
    client.post("/logout")
    login(client, make_reviewer().email)
    approved = client.post(
        f"/library/manage/{material.id}/approve", data={"comments": ""}, follow_redirects=True
    )
    assert b"Approved." in approved.data
    db.session.refresh(material)
    assert material.status is MaterialStatus.APPROVED


def test_editing_an_approved_material_is_refused(client):
    author = make_author()
    material = make_material(author)
    login(client, author.email)
    assert client.get(f"/library/manage/{material.id}/edit").status_code == 403


def test_new_version_action_opens_the_new_draft(client):
    author = make_author()
    material = make_material(author)
    login(client, author.email)
    response = client.post(f"/library/manage/{material.id}/new-version", data={})
    assert response.status_code == 302
    draft = db.session.query(Material).filter_by(family_id=material.family_id, version=2).one()
    assert response.headers["Location"].endswith(f"/library/manage/{draft.id}")


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_workflow_actions_need_a_csrf_token(client):
    material = make_material(status="in_review")
    # The CSRF check comes before anything else, signed in or not.
    response = client.post(f"/library/manage/{material.id}/approve", data={"comments": ""})
    assert response.status_code == 400
    db.session.refresh(material)
    assert material.status is MaterialStatus.IN_REVIEW


def test_dashboard_lists_a_content_managers_own_materials_apart(client):
    me, colleague = make_author(), make_author()
    make_material(me, status="draft", title="My own draft")
    make_material(colleague, status="draft", title="A colleague's draft")
    login(client, me.email)
    everyone = client.get("/library/manage").data
    assert b"My own draft" in everyone and b"A colleague&#39;s draft" in everyone
    mine = client.get("/library/manage?mine=1").data
    assert b"My own draft" in mine and b"A colleague&#39;s draft" not in mine
