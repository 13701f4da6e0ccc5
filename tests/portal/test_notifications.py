"""The bell: unread count on every page, the list, opening one, marking all read."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Notification, Role
from portal.services import notifications
from tests.conftest import login
from tests.factories import make_hcp, make_user


def notify(user, title: str = "Your question Q-000001 has an answer") -> Notification:
    notifications.notify(
        [user], kind="question_answered", title=title, endpoint="main.home", email=False
    )
    db.session.commit()
    found = db.session.scalar(
        select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc())
    )
    assert found is not None
    return found


def test_the_bell_shows_the_unread_count(client):
    hcp = make_hcp()
    notify(hcp)
    notify(hcp)
    login(client, hcp.email)

    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="bell-count">2<' in page


def test_no_count_without_unread_notifications(client):
    hcp = make_hcp()
    login(client, hcp.email)
    assert 'data-testid="bell-count"' not in client.get("/").get_data(as_text=True)


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(client):
    hcp = make_hcp()
    item = notify(hcp)
    login(client, hcp.email)

    response = client.post(f"/notifications/{item.id}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert notifications.unread_count(hcp) == 0


def test_someone_elses_notification_is_not_found(client):
    item = notify(make_hcp())
    login(client, make_user(Role.REP).email)
    assert client.post(f"/notifications/{item.id}").status_code == 404
    assert db.session.get(Notification, item.id).read_at is None


def test_mark_all_read(client):
    hcp = make_hcp()
    notify(hcp)
    notify(hcp)
    login(client, hcp.email)
    page = client.get("/notifications").get_data(as_text=True)
    assert page.count("Your question Q-000001 has an answer") == 2
    client.post("/notifications/read")
    assert notifications.unread_count(hcp) == 0


def test_the_email_twin_points_to_the_portal_and_never_quotes_text(app):
    hcp = make_hcp()
    notifications.notify([hcp, hcp], kind="k", title="Something happened", endpoint="main.home")
    db.session.commit()
    from portal.models import OutboxMail

    [sent] = db.session.scalars(select(OutboxMail).where(OutboxMail.to == hcp.email)).all()
    assert sent.subject == "Something happened"
    assert "http://portal.test/" in sent.body
