"""Who may do what: the expected answer of every route and every ``/chat`` event, for every
persona, written down as data.

A route of the URL map or an event of the ``/chat`` namespace without an entry here fails
``test_authorization_matrix.py``: adding one means deciding, here, who may use it. An entry for a
route that no longer exists fails too.

Answers (see :func:`tests.security.matrix.outcome`):

- ``ok`` 2xx; ``redirect`` done, sent elsewhere; ``login`` sent to the sign-in page;
- ``refused`` sent back with a "danger" flash (how the portal's pages refuse an action, or a form
  it could not read: the matrix posts empty forms, so for some routes this is the form speaking);
- ``forbidden`` 403: the persona may see the object but not do this;
- ``not_found`` 404: the persona may not know the object exists (the default: ids reveal nothing);
- ``gone`` 410; ``invalid`` 400/409/422: the view was reached and refused the input.

Socket events answer ``ok`` or the error code of the acknowledgement; ``no_connection`` when the
connection itself is refused (anonymous).

Each persona acts on objects it could legitimately act on (see :class:`World`): the HCP's own
question, conversation with the MSL, invitation from the rep, PV case and follow-up request; the
content manager's own material. Everybody else sees those objects as strangers do.
"""

from __future__ import annotations

from tests.security.matrix import (
    ANONYMOUS,
    FORBIDDEN,
    GONE,
    INVALID,
    LOGIN,
    NO_CONNECTION,
    NOT_FOUND,
    OK,
    PERSONAS,
    REDIRECT,
    REFUSED,
    SIGNED_IN,
    UNAUTHENTICATED,
)

Decision = dict[str, str]


def decide(*, anonymous: str = LOGIN, others: str = NOT_FOUND, **personas: str) -> Decision:
    """Every persona's answer: ``anonymous`` for the signed-out visitor, the named personas'
    own answers, ``others`` for every other signed-in persona."""
    unknown = set(personas) - set(SIGNED_IN)
    assert not unknown, f"no such persona: {sorted(unknown)} (personas: {PERSONAS})"
    return {ANONYMOUS: anonymous, **{p: personas.get(p, others) for p in SIGNED_IN}}


# Shorthands for the usual shapes.
def public(answer: str = OK, *, signed_in: str | None = None) -> Decision:
    """Open to everyone (sign-in pages, health check)."""
    return decide(anonymous=answer, others=signed_in or answer)


def api_token_only() -> Decision:
    """An integration API route: every persona, signed in or not, is refused with 401 (only
    an API token authenticates there)."""
    return public(UNAUTHENTICATED)


def signed_in(answer: str = OK, **personas: str) -> Decision:
    """Anyone signed in; the anonymous visitor is sent to sign in."""
    return decide(others=answer, **personas)


# The administration and routing pages: administrators change, compliance reads (403 on a
# change: they may see the page, not act on it), nobody else knows they exist.
def admin_reads(admin: str = OK) -> Decision:
    return decide(compliance=OK, admin=admin)


def admin_writes(admin: str, compliance: str = FORBIDDEN) -> Decision:
    return decide(compliance=compliance, admin=admin)


# The question's people: the HCP who asked, the medical teams that may see a question, and
# compliance (reads everything, acts on nothing). The commercial side (rep, market access) never
# sees a medical inquiry: 404 (the firewall), as for content, review and administration.
QUESTION_READERS = ("msl", "medical_information", "pharmacovigilance", "quality", "compliance")


def question(hcp: str, readers: str = REFUSED, **personas: str) -> Decision:
    return decide(hcp=hcp, **{**{p: readers for p in QUESTION_READERS}, **personas})


ROUTES: dict[str, Decision] = {
    # --- signing in, out, and the account --------------------------------------------------------
    "GET /login": public(OK, signed_in=REDIRECT),
    "POST /login": public(OK, signed_in=REDIRECT),
    "POST /logout": signed_in(LOGIN),  # done: the next page asks to sign in
    "GET /register": public(OK, signed_in=REDIRECT),
    "POST /register": public(OK, signed_in=REDIRECT),
    "GET /confirm/<token>": public(REFUSED),  # the token is not valid
    "POST /confirm/resend": signed_in(REDIRECT),
    "GET /password/forgot": public(),
    "POST /password/forgot": public(),
    "GET /password/reset/<token>": public(),  # the page says the link is not valid
    "POST /password/reset/<token>": public(),
    "GET /healthz": public(),
    # --- the integration API (tokens only; scopes in tests/portal/api/) ---------------------
    "GET /api/v1/openapi.json": public(),
    "GET /api/v1/me": api_token_only(),
    "GET /api/v1/materials": api_token_only(),
    "GET /api/v1/materials/<int(max=2147483647):material_id>": api_token_only(),
    "GET /api/v1/hcps": api_token_only(),
    "GET /api/v1/hcps/<int(max=2147483647):hcp_id>": api_token_only(),
    "GET /api/v1/interactions": api_token_only(),
    "GET /api/v1/questions": api_token_only(),
    "GET /api/v1/questions/<int(max=2147483647):question_id>": api_token_only(),
    "GET /api/v1/pv-cases": api_token_only(),
    "GET /api/v1/pv-cases/<int(max=2147483647):case_id>": api_token_only(),
    "POST /api/v1/call-notes": api_token_only(),
    "GET /api/v1/docs": public(),  # the rendered reference, like the document it renders
    # The second step of a sign-in (code, or enrolment for staff) exists only between the
    # password and the session: without a pending sign-in, back to the sign-in page.
    "GET /login/two-factor": public(LOGIN),
    "POST /login/two-factor": public(LOGIN),
    "GET /login/enrol": public(LOGIN),
    "POST /login/enrol": public(LOGIN),
    "GET /account/sessions": signed_in(),
    "GET /account/language": signed_in(),
    "POST /account/language": signed_in(REDIRECT),
    "POST /account/sessions/revoke-others": signed_in(REDIRECT),
    # The HCP's own session on another device; for anyone else it does not exist.
    "POST /account/sessions/<string:session_id>/revoke": decide(hcp=REDIRECT),
    "GET /account/two-factor": signed_in(),
    "POST /account/two-factor": signed_in(),  # the page again: no code was given
    # Nobody in the matrix is enrolled: nothing to manage, back to the two-factor page.
    "POST /account/two-factor/recovery-codes": signed_in(REDIRECT),
    "POST /account/two-factor/turn-off": signed_in(REDIRECT),
    "GET /account/password": signed_in(),
    "POST /account/password": signed_in(),  # the form again: no current password was given
    # The account page of whoever is signed in (their own name is all it changes: an empty name
    # is refused on the page again); contact preferences are the HCP's own, staff have none.
    "GET /account": signed_in(),
    "POST /account": signed_in(),
    "GET /account/preferences": decide(hcp=OK, hcp_pending=OK),
    "POST /account/preferences": decide(hcp=OK, hcp_pending=OK),  # the form again: no limit given
    "POST /account/preferences/resume": decide(hcp=REDIRECT, hcp_pending=REDIRECT),
    # --- home and notifications ------------------------------------------------------------------
    "GET /": signed_in(),
    "GET /notifications": signed_in(),
    "POST /notifications/read": signed_in(REDIRECT),
    "POST /notifications/<int:notification_id>": decide(hcp=REDIRECT),  # the HCP's own
    "GET /audit": admin_reads(),
    # --- insight dashboards: administrators and compliance (team leads are no persona here) ---
    "GET /insights/": admin_reads(),
    "GET /insights/<dashboard>": admin_reads(),
    "GET /insights/<dashboard>/<panel>.csv": admin_reads(),
    # --- administration --------------------------------------------------------------------------
    "GET /admin/users": admin_reads(),
    "GET /admin/users/<int:user_id>": admin_reads(),
    "GET /admin/users/new": admin_writes(OK),
    "POST /admin/users/new": admin_writes(OK),  # the form again, with its errors
    "POST /admin/users/<int:user_id>/assignment": admin_writes(REFUSED, compliance=REFUSED),
    "POST /admin/users/<int:user_id>/verify": admin_writes(REDIRECT),
    "POST /admin/users/<int:user_id>/reject": admin_writes(REFUSED, compliance=REFUSED),
    "POST /admin/users/<int:user_id>/suspend": admin_writes(REFUSED, compliance=REFUSED),
    "POST /admin/users/<int:user_id>/reactivate": admin_writes(INVALID),  # not suspended
    "POST /admin/users/<int:user_id>/sessions/revoke": admin_writes(REDIRECT),
    "POST /admin/users/<int:user_id>/two-factor/reset": admin_writes(REDIRECT),
    "GET /admin/routing/": admin_reads(),
    "POST /admin/routing/": admin_writes(OK),
    "GET /admin/routing/holidays": admin_reads(),
    "POST /admin/routing/holidays": admin_writes(REDIRECT),
    "POST /admin/routing/holidays/team": admin_writes(REFUSED),  # no team chosen
    "GET /admin/routing/labels": admin_reads(),
    "GET /admin/routing/labels/<int:product_id>": admin_reads(),
    "POST /admin/routing/labels/<int:product_id>": admin_writes(REDIRECT),
    "GET /admin/routing/rules/new": admin_writes(OK),
    "POST /admin/routing/rules/new": admin_writes(OK),
    "GET /admin/routing/rules/<int:rule_id>": admin_reads(),
    "POST /admin/routing/rules/<int:rule_id>": admin_writes(OK),
    "POST /admin/routing/rules/<int:rule_id>/move": admin_writes(REFUSED),  # no direction
    "POST /admin/routing/rules/<int:rule_id>/toggle": admin_writes(REDIRECT),
    "POST /admin/routing/rules/<int:rule_id>/delete": admin_writes(REDIRECT),
    "GET /admin/routing/slas": admin_reads(),
    "POST /admin/routing/slas": admin_writes(REFUSED),
    # Webhooks: administrators subscribe and act, compliance reads (403 on an action). The
    # world's delivery is pending: sending it again is refused on the page.
    "GET /admin/webhooks/": admin_reads(),
    "GET /admin/webhooks/new": admin_writes(OK),
    "POST /admin/webhooks/new": admin_writes(OK),  # the form again, with its errors
    "GET /admin/webhooks/<int:subscription_id>": admin_reads(),
    "POST /admin/webhooks/<int:subscription_id>/toggle": admin_writes(REDIRECT),
    "POST /admin/webhooks/<int:subscription_id>/test": admin_writes(REDIRECT),
    "POST /admin/webhooks/<int:subscription_id>/rotate": admin_writes(OK),  # the new secret
    "POST /admin/webhooks/<int:subscription_id>/delete": admin_writes(REDIRECT),
    "POST /admin/webhooks/<int:subscription_id>/deliveries/<int:delivery_id>/send-again": (
        admin_writes(REFUSED)
    ),
    "GET /compliance/chats/restricted-phrases": admin_reads(),
    "POST /compliance/chats/restricted-phrases": admin_writes(OK),
    "POST /compliance/chats/restricted-phrases/<int:phrase_id>/remove": admin_writes(REDIRECT),
    # The integration clients' API tokens (a token's secret is shown once, in the 201 page).
    "GET /admin/api-tokens": admin_reads(),
    "GET /admin/api-tokens/new": admin_writes(OK),
    "POST /admin/api-tokens/new": admin_writes(OK),  # the form again: no name, no scope
    "POST /admin/api-tokens/<int:token_id>/revoke": admin_writes(REDIRECT),
    # --- compliance review of chats --------------------------------------------------------------
    "GET /compliance/chats/": decide(compliance=OK),
    "GET /compliance/chats/<int:conversation_id>": decide(compliance=OK),
    # --- chat: the HCP and their MSL; the rep and the MSL have the team and chat pages -----------
    "GET /chat/": decide(hcp=OK, rep=OK, msl=OK),
    "GET /chat/team": decide(hcp=OK, rep=OK, msl=OK),
    "GET /chat/settings": decide(hcp=OK),
    "POST /chat/settings/end-all": decide(hcp=REDIRECT),
    "POST /chat/start": decide(hcp=REFUSED),  # already chatting with that MSL
    "POST /chat/invite": decide(),  # rep and MSL reach it with an HCP id; without one: 404
    "POST /chat/invitations/<int:invitation_id>/accept": decide(hcp=REFUSED),  # no consent ticked
    "POST /chat/invitations/<int:invitation_id>/decline": decide(hcp=REDIRECT),
    # Only the HCP ends a chat; the MSL and compliance see the conversation, and are refused.
    "POST /chat/<int:conversation_id>/end": decide(hcp=REDIRECT, msl=REFUSED, compliance=REFUSED),
    "GET /chat/<int:conversation_id>/attest": decide(msl=OK),
    "POST /chat/<int:conversation_id>/attest": decide(msl=OK),
    "POST /chat/<int:conversation_id>/messages/<int:seq>/report-pv": decide(
        hcp=FORBIDDEN, msl=OK, compliance=FORBIDDEN
    ),
    # --- the library: verified HCPs and staff who use content; not administrators ----------------
    # A pending HCP's pages say why (403, awaiting verification): it names only their own status.
    "GET /library/": signed_in(hcp_pending=FORBIDDEN, admin=NOT_FOUND),
    "GET /library/mine": signed_in(hcp_pending=FORBIDDEN, admin=NOT_FOUND),
    "GET /library/<int:material_id>": signed_in(hcp_pending=FORBIDDEN, admin=NOT_FOUND),
    "GET /library/<int:material_id>/download": signed_in(hcp_pending=NOT_FOUND, admin=NOT_FOUND),
    "GET /library/<int:material_id>/stream": signed_in(hcp_pending=NOT_FOUND, admin=NOT_FOUND),
    "GET /library/<int:material_id>/thumbnail.png": signed_in(
        hcp_pending=NOT_FOUND, admin=NOT_FOUND
    ),
    "POST /library/<int:material_id>/bookmark": signed_in(
        REDIRECT, hcp_pending=NOT_FOUND, admin=NOT_FOUND
    ),
    # A family nobody may see answers 410 exactly as one that does not exist (see MISSING_IDS).
    "GET /library/family/<int:family_id>": signed_in(REDIRECT, hcp_pending=FORBIDDEN, admin=GONE),
    # --- managing content: authors, MLR reviewers, compliance (reads) ----------------------------
    "GET /library/manage": decide(content_manager=OK, mlr_reviewer=OK, compliance=OK),
    "GET /library/manage/<int:material_id>": decide(
        content_manager=OK, mlr_reviewer=OK, compliance=OK
    ),
    "GET /library/manage/new": decide(
        content_manager=OK, mlr_reviewer=FORBIDDEN, compliance=FORBIDDEN
    ),
    "POST /library/manage/new": decide(
        content_manager=OK, mlr_reviewer=FORBIDDEN, compliance=FORBIDDEN
    ),
    # The material is published: nobody edits an approved version (a new version is the way).
    "GET /library/manage/<int:material_id>/edit": decide(
        content_manager=FORBIDDEN, mlr_reviewer=FORBIDDEN, compliance=FORBIDDEN
    ),
    "POST /library/manage/<int:material_id>/edit": decide(
        content_manager=FORBIDDEN, mlr_reviewer=FORBIDDEN, compliance=FORBIDDEN
    ),
    "POST /library/manage/<int:material_id>/new-version": decide(
        content_manager=REDIRECT, mlr_reviewer=REFUSED, compliance=REFUSED
    ),
    **{
        f"POST /library/manage/<int:material_id>/{action}": decide(
            content_manager=REFUSED, mlr_reviewer=REFUSED, compliance=REFUSED
        )
        for action in ("submit", "approve", "reject", "withdraw")
    },
    # --- questions -------------------------------------------------------------------------------
    "GET /questions/ask": decide(hcp=OK),
    "POST /questions/ask": decide(hcp=OK),  # the form again, with its errors
    "GET /questions/": signed_in(
        REDIRECT,  # staff go to their queue
        hcp=OK,
        hcp_pending=NOT_FOUND,
        content_manager=NOT_FOUND,
        mlr_reviewer=NOT_FOUND,
        admin=NOT_FOUND,
    ),
    "GET /questions/queue": signed_in(
        hcp=NOT_FOUND,
        hcp_pending=NOT_FOUND,
        content_manager=NOT_FOUND,
        mlr_reviewer=NOT_FOUND,
        admin=NOT_FOUND,
    ),
    "GET /questions/<int:question_id>": question(OK, readers=OK),
    "POST /questions/<int:question_id>/close": question(REDIRECT, medical_information=OK),
    "POST /questions/<int:question_id>/claim": question(REFUSED),
    "POST /questions/<int:question_id>/escalate": question(REFUSED),
    "POST /questions/<int:question_id>/follow-up": question(REFUSED),
    "POST /questions/<int:question_id>/helpful": question(REFUSED),
    "POST /questions/<int:question_id>/note": question(REFUSED, readers=OK, compliance=REFUSED),
    # The owning team (Medical Information) answers and reassigns; the others are refused.
    "POST /questions/<int:question_id>/reassign": question(REFUSED, medical_information=OK),
    "POST /questions/<int:question_id>/reply": question(REFUSED, medical_information=OK),
    "POST /questions/<int:question_id>/report-pv": question(
        REFUSED, readers=REDIRECT, compliance=REFUSED
    ),
    # Old PV URLs: permanent redirects to /safety/cases, whoever asks (the target decides).
    "GET /questions/pv": public(REDIRECT),
    "GET /questions/pv/<int:case_id>": public(REDIRECT),
    "POST /questions/pv/<int:case_id>": public(REDIRECT),
    "POST /questions/pv/<int:case_id>/acknowledge": public(REDIRECT),
    "POST /questions/pv/<int:case_id>/close": public(REDIRECT),
    # --- safety: Pharmacovigilance works cases, compliance reads them; the HCP answers requests --
    "GET /safety/cases": decide(pharmacovigilance=OK, compliance=OK),
    "GET /safety/cases/<int:case_id>": decide(pharmacovigilance=OK, compliance=OK),
    "POST /safety/cases/<int:case_id>": decide(pharmacovigilance=REDIRECT, compliance=REFUSED),
    "POST /safety/cases/<int:case_id>/acknowledge": decide(
        pharmacovigilance=REDIRECT, compliance=REFUSED
    ),
    "POST /safety/cases/<int:case_id>/close": decide(
        pharmacovigilance=REFUSED,
        compliance=REFUSED,  # PV: the closing form is empty
    ),
    "POST /safety/cases/<int:case_id>/follow-ups": decide(pharmacovigilance=OK, compliance=REFUSED),
    # No dates given: 400 (the view was reached).
    "GET /safety/cases/export.csv": decide(pharmacovigilance=INVALID, compliance=INVALID),
    "GET /safety/cases/export.json": decide(pharmacovigilance=INVALID, compliance=INVALID),
    "GET /safety/requests": decide(hcp=OK, hcp_pending=OK),
    "GET /safety/requests/<int:follow_up_id>": decide(hcp=OK),
    # --- call notes: reps, market access and MSLs of the HCP's territory and Medical Information
    # record interactions; PV, Quality and compliance may open the HCP's record, not write on it
    # (403). The matrix posts an empty form: refused as invalid (400). A follow-up is completed by
    # the note's author only (the rep's note of the world): colleagues who may read the note are
    # refused on the page, everyone else does not know it exists.
    **{
        f"{method} /hcps/<int:hcp_id>/notes/new": decide(
            rep=answer,
            market_access=answer,
            msl=answer,
            medical_information=answer,
            pharmacovigilance=FORBIDDEN,
            quality=FORBIDDEN,
            compliance=FORBIDDEN,
        )
        for method, answer in (("GET", OK), ("POST", INVALID))
    },
    "POST /hcps/notes/<int:note_id>/follow-up-done": decide(
        rep=REDIRECT,
        market_access=REFUSED,
        msl=REFUSED,
        medical_information=REFUSED,
        pharmacovigilance=REFUSED,
        quality=REFUSED,
        compliance=REFUSED,
    ),
    # --- the HCP page and its history: reps, market access and MSLs of the HCP's territory, the
    # company-wide medical teams and compliance; never an HCP (not even their own), nor anyone else.
    **{
        f"GET /hcps/<int:hcp_id>{suffix}": decide(
            rep=OK,
            market_access=OK,
            msl=OK,
            medical_information=OK,
            pharmacovigilance=OK,
            quality=OK,
            compliance=OK,
        )
        for suffix in ("", "/timeline.json")
    },
    "POST /safety/requests/<int:follow_up_id>": decide(hcp=OK),
    # --- the territory roster and the plan note: reps, market access and MSLs of the territory --
    "GET /hcps/": decide(rep=OK, market_access=OK, msl=OK),
    # Whoever records interactions plans the next one (Medical Information too); PV, Quality and
    # compliance may open the HCP's record, and are refused.
    "POST /hcps/<int:hcp_id>/plan": decide(
        rep=REDIRECT,
        market_access=REDIRECT,
        msl=REDIRECT,
        medical_information=REDIRECT,
        pharmacovigilance=REFUSED,
        quality=REFUSED,
        compliance=REFUSED,
    ),
    # --- outreach: colleagues who may contact the HCP (reps, market access, MSLs of the territory)
    # share and propose (the matrix posts an empty form: the page again, with its errors); the
    # verified HCP reads what was shared and asks for meetings. The world's meeting was asked for
    # by the HCP and accepted by the MSL: answering it again is refused on the page, cancelling it
    # works (each persona has a world of its own), its calendar file is theirs alone. The share is
    # the MSL's: only they mark the HCP's engagement with it seen.
    **{
        f"{method} /outreach/hcps/<int:hcp_id>/{page}": decide(rep=OK, market_access=OK, msl=OK)
        for method in ("GET", "POST")
        for page in ("share", "meeting")
    },
    "GET /outreach/shared": decide(hcp=OK),
    "GET /outreach/meetings/request": decide(hcp=OK),
    "POST /outreach/meetings/request": decide(hcp=OK),
    "GET /outreach/meetings": decide(hcp=OK, rep=OK, market_access=OK, msl=OK),
    "GET /outreach/meetings/<int:meeting_id>.ics": decide(hcp=OK, msl=OK),
    "POST /outreach/meetings/<int:meeting_id>/accept": decide(hcp=REFUSED, msl=REFUSED),
    "POST /outreach/meetings/<int:meeting_id>/decline": decide(hcp=REFUSED, msl=REFUSED),
    "POST /outreach/meetings/<int:meeting_id>/cancel": decide(hcp=REDIRECT, msl=REDIRECT),
    "POST /outreach/shares/<int:share_id>/seen": decide(msl=REDIRECT),
    # --- records: the audit trail ----------------------------------------------------------------
    # Compliance and administrators read the trail, check the chain and export a filtered view.
    "POST /audit/verify": admin_reads(),
    "GET /audit/export.csv": admin_reads(),
    # --- records: supervisory exports ------------------------------------------------------------
    # Compliance only (they read everything; an export holds every side's records); the matrix
    # posts an empty form: the page again with its errors (400).
    "GET /records/exports": decide(compliance=OK),
    "POST /records/exports": decide(compliance=INVALID),
    "GET /records/exports/<int:run_id>": decide(compliance=OK),
    "GET /records/exports/<int:run_id>/download": decide(compliance=OK),
    # --- privacy: data rights --------------------------------------------------------------------
    # Every HCP (verified or not) downloads, reads and may delete their own data; the pages do
    # not exist for staff. The matrix posts an empty form: the page again, with its errors.
    **{
        f"{method} /account/privacy{page}": decide(hcp=OK, hcp_pending=OK)
        for method, page in (
            ("GET", ""),
            ("GET", "/data.json"),
            ("GET", "/data.html"),
            ("GET", "/delete"),
            ("POST", "/delete"),
        )
    },
    # Administrators erase an HCP from the user's page (an empty reason is refused there);
    # compliance may open the page and the waiting requests, never erase.
    "POST /admin/users/<int:user_id>/erase": admin_writes(REFUSED),
    "GET /admin/privacy/requests": admin_reads(),
    # --- retention and legal holds ---------------------------------------------------------------
    # Both read the page; administrators set the periods, compliance places and releases legal
    # holds (each is refused the other's action: 403); nobody else knows the page exists. The
    # empty forms come back with their errors (200); a release without a hold is refused.
    "GET /admin/retention/": decide(admin=OK, compliance=OK),
    "POST /admin/retention/periods": decide(admin=OK, compliance=FORBIDDEN),
    "POST /admin/retention/holds": decide(admin=FORBIDDEN, compliance=OK),
    "POST /admin/retention/holds/release": decide(admin=FORBIDDEN, compliance=REFUSED),
}

# Requests naming an id that does not exist: ``not_found`` for every signed-in persona, and the
# route's own answer for the anonymous visitor, except for these.
MISSING_IDS: dict[str, Decision] = {
    # The integration API authenticates the token before it looks anything up.
    **{
        f"GET /api/v1/{path}/<int(max=2147483647):{name}>": api_token_only()
        for path, name in (
            ("materials", "material_id"),
            ("hcps", "hcp_id"),
            ("questions", "question_id"),
            ("pv-cases", "case_id"),
        )
    },
    # Compliance is refused before the rule is looked up (they read rules, never change them).
    "POST /admin/routing/rules/<int:rule_id>/delete": decide(compliance=FORBIDDEN),
    "POST /admin/routing/rules/<int:rule_id>/move": decide(compliance=FORBIDDEN, admin=REFUSED),
    "POST /admin/routing/rules/<int:rule_id>/toggle": decide(compliance=FORBIDDEN),
    "POST /compliance/chats/restricted-phrases/<int:phrase_id>/remove": decide(
        compliance=FORBIDDEN, admin=REFUSED
    ),
    # Compliance is refused before the token is looked up (they read tokens, never revoke).
    "POST /admin/api-tokens/<int:token_id>/revoke": decide(compliance=FORBIDDEN),
    # The consent form is read before the invitation is looked up.
    "POST /chat/invitations/<int:invitation_id>/accept": decide(hcp=REFUSED),
    "GET /library/family/<int:family_id>": signed_in(GONE, hcp_pending=FORBIDDEN),
    # A pending HCP is told their registration awaits verification, whatever the id.
    "GET /library/<int:material_id>": decide(hcp_pending=FORBIDDEN),
    "GET /questions/pv/<int:case_id>": public(REDIRECT),
    "POST /questions/pv/<int:case_id>": public(REDIRECT),
    "POST /questions/pv/<int:case_id>/acknowledge": public(REDIRECT),
    "POST /questions/pv/<int:case_id>/close": public(REDIRECT),
}

# Routes after which the persona is signed out (the matrix signs them in again).
ENDS_SESSION = frozenset({"auth.logout"})

# The ``/chat`` events: the conversation's two participants act; compliance takes part in no
# conversation on the socket (it reads them in the review pages): ``forbidden``; for everyone
# else the conversation does not exist. Listing conversations is everyone's (their own).
_PARTICIPANTS = {"anonymous": NO_CONNECTION, "hcp": OK, "msl": OK, "compliance": FORBIDDEN}
SOCKET_EVENTS: dict[str, Decision] = {
    "conversations": decide(anonymous=NO_CONNECTION, others=OK),
    **{
        event: decide(**_PARTICIPANTS)
        for event in ("join", "leave", "history", "read", "delivered", "typing", "send")
    },
    # Only the author edits or deletes a message: the HCP may see the MSL's, not change it.
    "edit": decide(**{**_PARTICIPANTS, "hcp": FORBIDDEN}),
    "delete": decide(**{**_PARTICIPANTS, "hcp": FORBIDDEN}),
}
