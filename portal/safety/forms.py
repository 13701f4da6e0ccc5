"""Forms of the PV workspace and of the HCP's request pages.

Fields carry no rules of their own (beyond CSRF): the services validate and report every bad field
at once, and the views attach those errors here.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, SubmitField, TextAreaField

from portal.admin.forms import CheckboxesField
from portal.forms import choices
from portal.safety.models import PvCase, Seriousness
from portal.safety.services import PatientSex, PvCaseInput


class PvCaseForm(FlaskForm):
    patient = TextAreaField("Patient", description="Anything else that identifies the patient.")
    patient_initials = StringField("Initials")
    patient_age = StringField("Age", description="e.g. 72 years, 8 months, 70s.")
    patient_sex = RadioField(
        "Sex",
        choices=choices(((s.value, s.label) for s in PatientSex), blank="Not given"),
        default="",
        validate_choice=False,
    )
    reporter = TextAreaField("Reporter", description="Who reported it, and how to reach them.")
    suspect_product = TextAreaField("Suspect product", description="Name, dose, batch.")
    event = TextAreaField("Event", description="What happened, when, and the outcome.")
    seriousness = CheckboxesField(
        "Seriousness criteria (serious when any applies)",
        choices=choices((s.value, s.label) for s in Seriousness),
        validate_choice=False,
    )
    submit = SubmitField("Save the case")

    @classmethod
    def of(cls, case: PvCase) -> PvCaseForm:
        return cls(
            data={
                "patient": case.patient,
                "patient_initials": case.patient_initials,
                "patient_age": case.patient_age,
                "patient_sex": case.patient_sex,
                "reporter": case.reporter,
                "suspect_product": case.suspect_product,
                "event": case.event,
                "seriousness": list(case.seriousness or []),
            }
        )

    def to_input(self) -> PvCaseInput:
        return PvCaseInput(
            patient=self.patient.data or "",
            reporter=self.reporter.data or "",
            suspect_product=self.suspect_product.data or "",
            event=self.event.data or "",
            seriousness=list(self.seriousness.data or []),
            patient_initials=self.patient_initials.data or "",
            patient_age=self.patient_age.data or "",
            patient_sex=self.patient_sex.data or "",
        )


class FollowUpQuestionForm(FlaskForm):
    body = TextAreaField(
        "Ask the reporter",
        description="The HCP is told only that Pharmacovigilance has a question; they read and "
        "answer it in the portal. They never see the case.",
    )
    submit = SubmitField("Send the question")


class FollowUpAnswerForm(FlaskForm):
    answer = TextAreaField("Your answer")
    submit = SubmitField("Send my answer")


class ButtonForm(FlaskForm):
    """A button that posts nothing but the CSRF token (acknowledge, close)."""

    submit = SubmitField("Confirm")
