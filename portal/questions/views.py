"""Questions: the HCP's "ask" and "my questions", the staff queues (PV cases: portal.safety).

Thin on purpose: each view parses its form, finds the actor, calls one service and flashes,
redirects or renders. Every rule lives in :mod:`portal.policy` and the services
(:mod:`~portal.questions.intake`, :mod:`~portal.questions.work`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from portal import inputs, policy
from portal.errors import InvalidInput
from portal.form_actions import run_form_action
from portal.forms import attach_errors
from portal.models import User, utcnow
from portal.questions import intake, thread, work
from portal.questions.forms import (
    AskForm,
    ButtonForm,
    CloseForm,
    FollowUpForm,
    NoteForm,
    ReasonForm,
    ReassignForm,
    ReplyForm,
)
from portal.questions.models import (
    EntryKind,
    Question,
    team_label,
)
from portal.safety import attestations
from portal.safety import services as safety
from portal.services.consent import current_wording
from portal.services.users import list_products
from portal.throttles import Throttle, throttled

blueprint = Blueprint("questions", __name__)


def _actor() -> User:
    actor: User = current_user._get_current_object()
    return actor


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "team_label": team_label,
        "hcp_status_label": intake.hcp_status_label,
        "now": utcnow(),
    }


# --- home page panels ----------------------------------------------------------------------------
def home_panel(user: User) -> tuple[str, dict[str, Any]] | None:
    """HCP home: their questions. Staff with a queue: what waits for them (and PV's open cases)."""
    if policy.can_ask_question(user):
        counts = intake.my_question_counts(user)
        return "questions/panels/hcp.html", {
            "open": counts.open,
            "answered": counts.answered,
            "latest": list(intake.my_questions(user, page_size=3)),
            "status_label": intake.hcp_status_label,
        }
    if policy.can_view_question_queue(user):
        context: dict[str, Any] = {"read_only": policy.is_read_only(user)}
        board = work.staff_dashboard(user)
        if policy.is_read_only(user):
            context["open"] = board["open"]
            context["overdue"] = board["overdue"]
        else:
            context["board"] = board
        if policy.can_view_pv_cases(user):
            context["pv_open"] = safety.count_open_cases(user)
        return "questions/panels/staff.html", context
    return None


# --- the HCP side ------------------------------------------------------------------------------
@blueprint.route("/ask", methods=["GET", "POST"])
@throttled(Throttle.QUESTIONS)
@login_required
def ask() -> Response | str:
    actor = _actor()
    policy.require_visible(policy.can_ask_question(actor), "That page")
    wording = current_wording(intake.CONSENT_PURPOSE)
    form = AskForm()
    form.setup(products=list_products(), channels=intake.channel_choices(actor))
    if request.method == "GET":
        form.product_id.data = inputs.query_id("product")
        form.about_family_id.data = inputs.query_id("material") or ""
        form.consent_wording_id.data = str(wording.id)
    elif form.validate_on_submit():
        try:
            question = intake.ask_question(actor, form.to_input())
        except InvalidInput as exc:
            attach_errors(form, exc)
            if "consent" in exc.errors:
                form.consent.data = False
        else:
            flash(
                gettext(
                    "Your question %(reference)s was sent to %(team)s. We will tell you when it "
                    "is answered.",
                    reference=question.reference,
                    team=team_label(question.owner_team),
                ),
                "success",
            )
            return redirect(url_for(".detail", question_id=question.id))
    # The box is ticked against the wording on the page: always the current one.
    form.consent_wording_id.data = str(wording.id)
    return render_template(
        "questions/ask.html",
        form=form,
        wording=wording,
        about=_material_of_family(actor, form.about_family_id.data),
        max_length=intake.max_text_length(),
    )


def _material_of_family(actor: User, family_id: Any) -> Any:
    """The material the HCP was reading, to name it on the form (None if not visible now)."""
    family = inputs.find_id(family_id)
    return intake.about_material(actor, family) if family else None


@blueprint.route("/")
@login_required
def index() -> Response | str:
    actor = _actor()
    if policy.can_ask_question(actor):
        counts = intake.my_question_counts(actor)
        page = min(inputs.query_page(), counts.pages)
        return render_template(
            "questions/mine.html",
            questions=intake.my_questions(actor, page=page),
            page=page,
            pages=counts.pages,
            total=counts.total,
        )
    policy.require_visible(policy.can_view_question_queue(actor), "That page")
    return redirect(url_for(".queue"))


# --- one question ----------------------------------------------------------------------------
@blueprint.route("/<int:question_id>")
@login_required
def detail(question_id: int) -> str:
    actor = _actor()
    return _render_detail(actor, thread.get_question(actor, question_id))


def _render_detail(actor: User, question: Question, **forms: Any) -> str:
    """The question page for ``actor``; ``forms`` replace the blank ones (kept text, errors)."""
    entries = thread.visible_entries(actor, question)
    attachments = {
        e.id: thread.attachments_for(actor, e) for e in entries if e.kind is EntryKind.REPLY
    }
    if actor.is_hcp:
        return render_template(
            "questions/hcp_detail.html",
            question=question,
            steps=intake.timeline(question),
            entries=entries,
            attachments=attachments,
            follow_up_form=forms.get("follow_up") or FollowUpForm(),
            close_form=ReasonForm(prefix="close"),
            max_length=intake.max_text_length(),
        )
    can_work = policy.can_work_question(actor, question)
    reply_form = forms.get("reply") or ReplyForm()
    reassign_form = forms.get("reassign") or ReassignForm(prefix="reassign")
    teams = work.reassign_choices(actor, question) if can_work else []
    if can_work:
        reply_form.set_materials(work.shareable_materials(actor, question))
        reassign_form.set_teams(teams)
    return render_template(
        "questions/staff_detail.html",
        question=question,
        profile=question.hcp.hcp_profile,
        entries=entries,
        attachments=attachments,
        pv_cases=safety.cases_of_question(actor, question.id),
        attestations=attestations.attestations_of_question(actor, question),
        can_report=policy.can_report_question_to_pv(actor, question),
        can_work=can_work,
        reassign_teams=teams,
        reply_form=reply_form,
        note_form=forms.get("note") or NoteForm(prefix="note"),
        reassign_form=reassign_form,
        escalate_form=forms.get("escalate") or ReasonForm(prefix="escalate"),
        close_form=forms.get("close") or CloseForm(prefix="close"),
    )


def _act(
    question_id: int, action: Callable[[User], str], *, form: FlaskForm, form_name: str = ""
) -> Response | str:
    """Run a question page's form action (:func:`~portal.form_actions.run_form_action`) and go
    back to the page. With ``form_name`` (its keyword for :func:`_render_detail`), a form with
    text is shown again, text kept, when the input was invalid."""

    def show_again(actor: User) -> str:
        return _render_detail(actor, thread.get_question(actor, question_id), **{form_name: form})

    return run_form_action(
        action,
        form=form,
        back=url_for(".detail", question_id=question_id),
        show_again=show_again if form_name else None,
    )


@blueprint.route("/<int:question_id>/follow-up", methods=["POST"])
@throttled(Throttle.FOLLOW_UPS)
@login_required
def follow_up(question_id: int) -> Response | str:
    form = FollowUpForm()

    def run(actor: User) -> str:
        intake.follow_up(actor, question_id, form.text.data or "")
        return "Your follow-up was added. The team has been told."

    return _act(question_id, run, form=form, form_name="follow_up")


@blueprint.route("/<int:question_id>/helpful", methods=["POST"])
@login_required
def helpful(question_id: int) -> Response | str:
    value = request.form.get("value", "")

    def run(actor: User) -> str:
        if value not in ("yes", "no"):
            # Still ask the service first, so a question one may not see stays a 404.
            thread.get_question(actor, question_id)
            raise InvalidInput("Choose yes or no.")
        intake.rate_answer(actor, question_id, helpful=value == "yes")
        if value == "yes":
            return "Thank you for telling us."
        return "Thank you for telling us. You can add a follow-up to say what is missing."

    return _act(question_id, run, form=ButtonForm())


@blueprint.route("/<int:question_id>/close", methods=["POST"])
@login_required
def close(question_id: int) -> Response | str:
    form = CloseForm(prefix="close")

    def run(actor: User) -> str:
        question = work.close_question(
            actor, question_id, reason=form.reason.data or "", attestation=form.to_attestation()
        )
        return f"Question {question.reference} is closed."

    return _act(question_id, run, form=form, form_name="close")


@blueprint.route("/<int:question_id>/claim", methods=["POST"])
@login_required
def claim(question_id: int) -> Response | str:
    def run(actor: User) -> str:
        question = work.claim_question(actor, question_id)
        return f"Question {question.reference} is now assigned to you."

    return _act(question_id, run, form=ButtonForm())


@blueprint.route("/<int:question_id>/reply", methods=["POST"])
@throttled(Throttle.ANSWERS)
@login_required
def reply(question_id: int) -> Response | str:
    form = ReplyForm()

    def run(actor: User) -> str:
        work.reply_to_question(
            actor,
            question_id,
            body=form.body.data or "",
            material_ids=form.materials.data or [],
            attestation=form.to_attestation(),
        )
        return "Answer sent. The HCP is told it is waiting for them in the portal."

    return _act(question_id, run, form=form, form_name="reply")


@blueprint.route("/<int:question_id>/report-pv", methods=["POST"])
@throttled(Throttle.PV_REPORTS)
@login_required
def report_pv(question_id: int) -> Response | str:
    """One click: the question's words (or one follow-up's, ``entry_id``) go to PV at once."""
    entry_id = inputs.posted_id("entry_id")

    def run(actor: User) -> str:
        report = attestations.report_to_pv(
            actor,
            question_id=question_id,
            entry_id=entry_id,
            note=request.form.get("note", ""),
        )
        return report.message

    return _act(question_id, run, form=ButtonForm())


@blueprint.route("/<int:question_id>/note", methods=["POST"])
@throttled(Throttle.ANSWERS)
@login_required
def note(question_id: int) -> Response | str:
    form = NoteForm(prefix="note")

    def run(actor: User) -> str:
        entry = work.add_note(actor, question_id, body=form.text.data or "")
        return f"Internal note added (visible on the {entry.side.value} side only)."

    return _act(question_id, run, form=form, form_name="note")


@blueprint.route("/<int:question_id>/reassign", methods=["POST"])
@login_required
def reassign(question_id: int) -> Response | str:
    form = ReassignForm(prefix="reassign")

    def run(actor: User) -> str:
        question = work.reassign_question(
            actor, question_id, to_team=form.to_team.data or "", reason=form.reason.data or ""
        )
        who = question.assignee.name if question.assignee else "its queue"
        return f"Handed to {team_label(question.owner_team)} ({who})."

    return _act(question_id, run, form=form, form_name="reassign")


@blueprint.route("/<int:question_id>/escalate", methods=["POST"])
@login_required
def escalate(question_id: int) -> Response | str:
    form = ReasonForm(prefix="escalate")

    def run(actor: User) -> str:
        question = work.escalate_question(actor, question_id, reason=form.reason.data or "")
        lead = question.assignee.name if question.assignee else "the team lead"
        return f"Escalated to {lead}."

    # Flashed rather than shown on the form: a missing team lead is not the form's to fix.
    return _act(question_id, run, form=form)


# --- the staff queue -----------------------------------------------------------------------------
@blueprint.route("/queue")
@login_required
def queue() -> str:
    actor = _actor()
    policy.require_visible(policy.can_view_question_queue(actor), "The question queue")
    read_only = policy.is_read_only(actor)
    teams = work.queue_teams(actor)
    views = ("team", "all") if read_only else work.QUEUE_VIEWS
    view = request.args.get("view", "")
    if view not in views:
        view = views[0] if read_only else "mine"
    team = request.args.get("team", "")
    if team not in {t.value for t in teams}:
        team = teams[0].value if read_only and view == "team" and teams else ""
    include_closed = request.args.get("closed") == "1"
    page = work.queue_page(
        actor,
        view=view,
        team=team or None,
        include_closed=include_closed,
        page=inputs.query_page(),
    )
    return render_template(
        "questions/queue.html",
        questions=page.items,
        page=page,
        view=view,
        views=views,
        team=team,
        teams=teams,
        include_closed=include_closed,
        read_only=read_only,
        moved=work.moved_away(actor),
    )


# --- PV cases: moved to /safety/cases (portal.safety.views) -------------------------------------
# Bookmarks, and notifications stored before the move, still lead to the case: these old URLs
# (and endpoint names) answer with a redirect. POSTs keep their method (308).
@blueprint.route("/pv")
def pv_cases() -> Response:
    # The old list knew one parameter; nothing else from the query is passed on to url_for.
    return redirect(url_for("safety.cases", status=request.args.get("status")), code=301)


@blueprint.route("/pv/<int:case_id>", methods=["GET", "POST"])
def pv_case(case_id: int) -> Response:
    code = 308 if request.method == "POST" else 301
    return redirect(url_for("safety.case", case_id=case_id), code=code)


@blueprint.route("/pv/<int:case_id>/acknowledge", methods=["POST"])
def pv_acknowledge(case_id: int) -> Response:
    return redirect(url_for("safety.acknowledge", case_id=case_id), code=308)


@blueprint.route("/pv/<int:case_id>/close", methods=["POST"])
def pv_close(case_id: int) -> Response:
    return redirect(url_for("safety.close", case_id=case_id), code=308)
