"""``flask`` commands: database setup, demo data, users, the audit chain, the mail outbox and the
background worker."""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec, TypeVar

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from portal import audit, jobs, scale, urls
from portal.errors import PortalError
from portal.models.reference import STAFF_ROLES, TeamKey
from portal.services import demo, mail, users

P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def needs_public_url(command: Callable[P, R]) -> Callable[P, R]:
    """For commands that mail links: refuse to run without ``PUBLIC_URL`` (outside debug and
    tests), before changing anything, rather than fail halfway."""

    @functools.wraps(command)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            urls.check_public_url(current_app)
        except urls.PublicURLError as exc:
            _fail(str(exc))
        return command(*args, **kwargs)

    return checked


@click.command("init-db")
def init_db() -> None:
    """Create or migrate the database to the latest schema and add reference data."""
    upgrade()
    demo.ensure_reference_data()
    click.echo("Database is up to date.")


@click.command("seed-demo")
@click.option("--quiet", is_flag=True, help="Do not print the demo logins.")
@needs_public_url
def seed_demo(quiet: bool) -> None:
    """Load demo data into an empty database (safe to run again) and print the demo logins."""
    result = demo.seed_demo()
    click.echo(result.message)
    if result.demo_present and not quiet:
        click.echo("")
        click.echo("Demo logins (password for all: demo-pass-2026):")
        for who, what in demo.DEMO_LOGINS:
            click.echo(f"  {demo.demo_email(who):<28} {what}")


@click.command("seed-scale")
@click.option(
    "--factor", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True
)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def seed_scale(factor: float, seed: int, as_json: bool) -> None:
    """Add a realistic large portal on top of the demo data, for load tests (50,000 HCPs,
    100,000 material versions, 200,000 questions, 2,000,000 chat messages... times --factor).
    Progress goes to stderr."""
    try:
        result = scale.seed_scale(
            factor=factor, seed=seed, log=lambda line: click.echo(line, err=True)
        )
    except PortalError as exc:
        _fail(exc.message)
        return
    if as_json:
        click.echo(json.dumps({"counts": result.counts, "seconds": result.seconds}))
        return
    for table, rows in sorted(result.counts.items()):
        click.echo(f"  {table:<28} {rows:>10,}")
    click.echo(f"Scale data added in {result.seconds:.1f}s.")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in STAFF_ROLES]))
@click.option("--team", "teams", multiple=True, type=click.Choice([t.value for t in TeamKey]))
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    default="",
    show_default=False,
    help="Leave empty to send the person a link to choose their own.",
)
@needs_public_url
def create_user(email: str, name: str, role: str, teams: tuple[str, ...], password: str) -> None:
    """Create a staff account (HCPs register themselves)."""
    try:
        user = users.create_staff(
            None,
            email=email,
            name=name,
            assignment=users.StaffAssignment(role=role, team_keys=teams),
            password=password or None,
        )
    except PortalError as exc:
        _fail(exc.message)
        return
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")


audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def audit_verify(as_json: bool) -> None:
    """Check the hash chain and report the first broken link (exit status 1 when broken)."""
    result = audit.verify()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": result.ok,
                    "checked": result.checked,
                    "broken_id": result.broken_id,
                    "problem": result.problem,
                }
            )
        )
    elif result.ok:
        click.echo(f"Audit trail intact: {result.checked} records verified.")
    else:
        click.echo(
            f"Audit trail BROKEN at record {result.broken_id}: {result.problem} "
            f"({result.checked} records before it verified).",
            err=True,
        )
    if not result.ok:
        sys.exit(1)


mail_cli = AppGroup("mail", help="The mail outbox.")


@mail_cli.command("send")
def mail_send() -> None:
    """Send every due mail in the outbox now."""
    sent, failed = mail.send_pending()
    click.echo(f"Sent {sent}, failed {failed}.")


@click.command("worker")
@click.option("--once", is_flag=True, help="Run what is due now, then exit (cron, tests).")
@needs_public_url
def worker(once: bool) -> None:
    """Run background jobs and send the mail outbox until SIGTERM or Ctrl-C (any number of these
    may run at once; each job and mail is taken by one)."""
    runner = jobs.Worker(current_app._get_current_object())  # type: ignore[attr-defined]
    if once:
        done = runner.run_once()
        click.echo(
            f"Jobs: {done.jobs} done, {done.jobs_failed} failed. "
            f"Mail: {done.mail} sent, {done.mail_failed} failed."
        )
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        if runner.stop.is_set():  # asked twice: stop now, the job in hand is retried later
            raise SystemExit(1)
        click.echo("Stopping after the current job (again to stop at once).", err=True)
        runner.stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    runner.run_forever()


def init_app(app: Flask) -> None:
    # Feature packages add their own groups (``flask questions``: portal.questions.init_app).
    for command in (init_db, seed_demo, seed_scale, create_user, audit_cli, mail_cli, worker):
        app.cli.add_command(command)
