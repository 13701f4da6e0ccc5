"""Configuration: safe defaults here, secrets and URLs from the environment, overrides from
tests."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

TRUE_WORDS = {"1", "true", "yes", "on"}

# The languages the portal speaks, each named in itself (the language page lists them so).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "fr": "Français",
}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def env_list(name: str) -> list[str]:
    """A list from a comma- or space-separated variable (empty when unset)."""
    return os.environ.get(name, "").replace(",", " ").split()


def normalize_database_url(url: str) -> str:
    """Make a PostgreSQL URL use psycopg 3, whatever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def instance_secret_key(instance_path: Path) -> str:
    """The key in ``instance/secret_key``, generated on first run and readable by the owner only."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


class SecretKeyError(RuntimeError):
    """``SECRET_KEY`` is unset while ``DATABASE_URL`` or ``REDIS_URL`` is set."""


def settle_secret_key(config: dict[str, Any], instance_path: Path, *, exempt: bool) -> None:
    """Fill in ``config["SECRET_KEY"]`` when it is unset: the key in ``instance/secret_key``
    (generated on first run) for the embedded default, a test or a debug run.

    With ``DATABASE_URL`` or ``REDIS_URL`` set, processes share the data, and each would sign
    sessions and links with a generated key of its own, refusing the others' cookies and links:
    then :class:`SecretKeyError` unless ``exempt``.
    """
    if config.get("SECRET_KEY"):
        return
    shared = [
        name
        for name, value in (
            ("DATABASE_URL", os.environ.get("DATABASE_URL")),
            ("REDIS_URL", config.get("REDIS_URL")),
        )
        if value
    ]
    if shared and not exempt:
        raise SecretKeyError(
            f"SECRET_KEY is not set, but {' and '.join(shared)} is: every process would sign "
            "sessions and links with a key of its own and refuse the others'. Give every "
            "server process and worker the same SECRET_KEY, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
    config["SECRET_KEY"] = instance_secret_key(instance_path)


# Limits on record creation, per throttle and key ("user", "address" or "email"); each can be
# overridden by THROTTLE_<NAME>_<KEY> in the environment (an empty value switches it off).
THROTTLE_DEFAULTS: dict[str, dict[str, str]] = {
    "questions": {"user": "10 per hour;30 per day", "address": "60 per hour"},
    "follow-ups": {"user": "20 per hour;60 per day", "address": "120 per hour"},
    "answers": {"user": "120 per hour;600 per day", "address": "600 per hour"},
    "chat-invitations": {"user": "20 per hour;100 per day", "address": "200 per hour"},
    "chat-starts": {"user": "10 per hour;30 per day", "address": "60 per hour"},
    "uploads": {"user": "30 per hour;200 per day", "address": "200 per hour"},
    "pv-reports": {"user": "60 per hour;300 per day", "address": "600 per hour"},
    "pv-follow-ups": {"user": "30 per hour;200 per day", "address": "300 per hour"},
    "pv-answers": {"user": "20 per hour;60 per day", "address": "120 per hour"},
    "staff-invitations": {"user": "30 per hour;100 per day", "address": "100 per hour"},
    "registrations": {"address": "10 per hour;50 per day", "email": "3 per hour;10 per day"},
    "password-resets": {"address": "10 per hour;50 per day", "email": "3 per hour;10 per day"},
    "call-notes": {"user": "60 per hour;300 per day", "address": "600 per hour"},
    "outreach": {"user": "30 per hour;200 per day", "address": "300 per hour"},
    "meetings": {"user": "30 per hour;100 per day", "address": "300 per hour"},
    "preferences": {"user": "30 per hour;100 per day", "address": "300 per hour"},
    "webhooks": {"user": "30 per hour;100 per day", "address": "100 per hour"},
    "api-tokens": {"user": "20 per hour;50 per day", "address": "100 per hour"},
    "exports": {"user": "20 per hour;100 per day", "address": "100 per hour"},
    "retention": {"user": "30 per hour;100 per day", "address": "100 per hour"},
}


def throttles_from_env() -> dict[str, dict[str, str]]:
    """:data:`THROTTLE_DEFAULTS` with the environment's overrides."""
    throttles: dict[str, dict[str, str]] = {}
    for name, limits in THROTTLE_DEFAULTS.items():
        prefix = "THROTTLE_" + name.upper().replace("-", "_")
        throttles[name] = {
            key: os.environ.get(f"{prefix}_{key.upper()}", value).strip()
            for key, value in limits.items()
        }
    return throttles


def load_config(instance_path: Path) -> dict[str, Any]:
    """Configuration read from the environment, with safe defaults."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.db'}"
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        # Unset: settle_secret_key decides (a generated key, or a refusal to start).
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        # A server can drop idle connections (restart, failover): each one is tested before
        # use by portal.extensions.ping_before_use (pool_pre_ping, but skipped where the caller
        # retries by itself). A SQLite file cannot drop them.
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "REDIS_URL": redis_url,
        # One blocking pool per Redis URL for the whole process: a burst waits up to the timeout
        # for a free connection instead of failing (portal/redis_pool.py).
        # The Redis pub/sub channel of live events. Channels ignore the database number, so two
        # portals on one Redis (or two test runs) keep apart by giving each its own channel.
        "SOCKETIO_CHANNEL": os.environ.get("SOCKETIO_CHANNEL", "").strip() or "flask-socketio",
        "REDIS_MAX_CONNECTIONS": env_int("REDIS_MAX_CONNECTIONS", 50),
        "REDIS_POOL_TIMEOUT_SECONDS": env_int("REDIS_POOL_TIMEOUT_SECONDS", 5),
        # With Redis, each server process refreshes a heartbeat this often; after EXPIRY without
        # one its sockets are swept and its users shown offline (portal/redis_registry.py).
        "PRESENCE_HEARTBEAT_SECONDS": env_int("PRESENCE_HEARTBEAT_SECONDS", 5),
        "PRESENCE_EXPIRY_SECONDS": env_int("PRESENCE_EXPIRY_SECONDS", 15),
        # Flask-Limiter shares its counters across processes when Redis is there.
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "20 per minute"),
        # Sign-in backoff (no lockout): after LOGIN_MAX_FAILURES failures in a row on an account,
        # each further attempt waits 2^(n - max) seconds after the last failure, at most
        # LOGIN_LOCKOUT_MINUTES. The same per client address after LOGIN_ADDRESS_MAX_FAILURES
        # failures within LOGIN_ADDRESS_WINDOW_MINUTES (higher: a hospital shares one address).
        "LOGIN_MAX_FAILURES": env_int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_MINUTES": env_int("LOGIN_LOCKOUT_MINUTES", 15),
        "LOGIN_ADDRESS_MAX_FAILURES": env_int("LOGIN_ADDRESS_MAX_FAILURES", 20),
        "LOGIN_ADDRESS_WINDOW_MINUTES": env_int("LOGIN_ADDRESS_WINDOW_MINUTES", 60),
        # Throttles on the routes that create records (README "Throttles"): per user and per
        # client address, e.g. THROTTLE_QUESTIONS_USER="10 per hour;30 per day".
        "THROTTLES": throttles_from_env(),
        # The integration API (docs/api.md): each token's budget, and each client address's
        # budget of failed authentications (guessing tokens).
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "120 per minute"),
        "API_AUTH_FAILURE_LIMIT": os.environ.get("API_AUTH_FAILURE_LIMIT", "30 per minute"),
        # Webhooks: deliveries to private, loopback or link-local addresses are refused unless
        # this is on (a test receiver on loopback; an integration host inside the network).
        # Insights (docs/insights.md): a computed dashboard is served for this long, and the
        # worker recomputes the default views this often.
        "INSIGHTS_MAX_AGE_MINUTES": env_int("INSIGHTS_MAX_AGE_MINUTES", 15),
        "INSIGHTS_REFRESH_MINUTES": env_int("INSIGHTS_REFRESH_MINUTES", 10),
        "WEBHOOK_ALLOW_PRIVATE": env_bool("WEBHOOK_ALLOW_PRIVATE", False),
        "WEBHOOK_TIMEOUT_SECONDS": env_int("WEBHOOK_TIMEOUT_SECONDS", 10),
        "WEBHOOK_MAX_ATTEMPTS": env_int("WEBHOOK_MAX_ATTEMPTS", 8),
        # Records and privacy (docs/records.md): exports, data rights, retention.
        # Supervisory exports (portal/records): a finished export's file is kept this many
        # days, then deleted by the worker (the run's record, size and SHA-256 stay).
        "EXPORT_KEEP_DAYS": env_int("EXPORT_KEEP_DAYS", 7),
        # Data rights (portal/privacy): an erased person's address is "<pseudonym>@" this
        # domain (.invalid never delivers); a personal-data download lists at most this many
        # audit records about the person (the newest; the page says when there were more).
        "PRIVACY_PSEUDONYM_DOMAIN": os.environ.get("PRIVACY_PSEUDONYM_DOMAIN", "erased.invalid"),
        "PRIVACY_EXPORT_AUDIT_LIMIT": env_int("PRIVACY_EXPORT_AUDIT_LIMIT", 10000),
        # Retention (portal/retention): the days each kind of record is kept until an
        # administrator sets a period on /admin/retention (the table then decides), and how
        # many records the daily purge deletes per transaction.
        "RETENTION_DEFAULT_DAYS": {
            "conversations": env_int("RETENTION_CONVERSATIONS_DAYS", 3 * 365),
            "questions": env_int("RETENTION_QUESTIONS_DAYS", 5 * 365),
            "material_views": env_int("RETENTION_MATERIAL_VIEWS_DAYS", 2 * 365),
            "notifications": env_int("RETENTION_NOTIFICATIONS_DAYS", 180),
            "sessions": env_int("RETENTION_SESSIONS_DAYS", 90),
            "mail_outbox": env_int("RETENTION_MAIL_OUTBOX_DAYS", 90),
            "search_terms": env_int("RETENTION_SEARCH_TERMS_DAYS", 2 * 365),
            "jobs": env_int("RETENTION_JOBS_DAYS", 90),
            "export_files": env_int("EXPORT_KEEP_DAYS", 7),
            "safety_linked": env_int("RETENTION_SAFETY_LINKED_DAYS", 10 * 365),
            # The IP addresses and devices of sign-in, session and two-factor audit records
            # (the records stay; their personal part is erased).
            "sign_in_details": env_int("RETENTION_SIGN_IN_DETAILS_DAYS", 365),
        },
        # The regulatory floor of the safety period: neither the default nor the page may set
        # safety-linked records' period below it (checked at start; see portal/retention).
        "RETENTION_SAFETY_MINIMUM_DAYS": env_int("RETENTION_SAFETY_MINIMUM_DAYS", 10 * 365),
        "RETENTION_BATCH_SIZE": env_int("RETENTION_BATCH_SIZE", 500),
        "PASSWORD_MIN_LENGTH": 12,
        "PASSWORD_HASH_PROFILE": "default",
        "EMAIL_CONFIRM_MAX_AGE": env_int("EMAIL_CONFIRM_MAX_AGE", 3 * 24 * 3600),
        "PASSWORD_RESET_MAX_AGE": env_int("PASSWORD_RESET_MAX_AGE", 3600),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": env_int("MAIL_PORT", 587),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", True),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "HCP Portal <no-reply@portal.invalid>"),
        "MAIL_MAX_ATTEMPTS": env_int("MAIL_MAX_ATTEMPTS", 8),
        # Links, hosts and proxies (README): every absolute link is built from PUBLIC_URL (the
        # server refuses to start without it); requests for a host other than PUBLIC_URL's or
        # ALLOWED_HOSTS get 400; X-Forwarded-* are believed from TRUSTED_PROXIES hops only.
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "").rstrip("/") or None,
        "ALLOWED_HOSTS": env_list("ALLOWED_HOSTS"),
        "TRUSTED_PROXIES": env_int("TRUSTED_PROXIES", 0),
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", True),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": env_int("SESSION_LIFETIME_SECONDS", 8 * 3600),
        # Server-side sessions (portal/services/sessions.py): every session ends after an
        # absolute lifetime, a staff session after 30 idle minutes, an HCP's after 8 hours.
        "SESSION_ABSOLUTE_HOURS": env_int("SESSION_ABSOLUTE_HOURS", 12),
        "STAFF_IDLE_MINUTES": env_int("STAFF_IDLE_MINUTES", 30),
        "HCP_IDLE_MINUTES": env_int("HCP_IDLE_MINUTES", 8 * 60),
        # Every staff role enrols in two-factor sign-in (TOTP) before doing anything else.
        "TWO_FACTOR_REQUIRED": env_bool("TWO_FACTOR_REQUIRED", True),
        "TWO_FACTOR_ISSUER": os.environ.get("TWO_FACTOR_ISSUER", "HCP Portal"),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
        "MAX_MATERIAL_BYTES": env_int("MAX_MATERIAL_BYTES", 20 * 1024 * 1024),
        "SOCKETIO_ASYNC_MODE": os.environ.get("SOCKETIO_ASYNC_MODE") or None,
        # The largest Socket.IO packet a client may send (HTTP long-polling body or WebSocket
        # message). Far above a chat message's 4,000 characters in any encoding, so that an
        # over-long message reaches the handler and is answered ``too_long``; a larger packet
        # closes the connection as soon as it passes the cap (README "Bounded input").
        "SOCKETIO_MAX_PAYLOAD_BYTES": env_int("SOCKETIO_MAX_PAYLOAD_BYTES", 4 * 1024 * 1024),
        # How often an idle worker looks for due jobs and mail; the overdue sweep's period.
        "OUTBOX_INTERVAL_SECONDS": env_int("OUTBOX_INTERVAL_SECONDS", 15),
        # Whether web processes run the worker themselves. Unset: only on the embedded default
        # (SQLite, no REDIS_URL); scale-out deployments run `flask worker` (portal/jobs.py).
        "WORKER_IN_PROCESS": (
            env_bool("WORKER_IN_PROCESS", False)
            if os.environ.get("WORKER_IN_PROCESS", "").strip()
            else None
        ),
        # The business calendar behind question due times (holidays and SLAs are data, edited
        # by administrators; the working day is the company's).
        "BUSINESS_TIMEZONE": os.environ.get("BUSINESS_TIMEZONE", "America/New_York"),
        "BUSINESS_OPENS": os.environ.get("BUSINESS_OPENS", "09:00"),
        "BUSINESS_CLOSES": os.environ.get("BUSINESS_CLOSES", "17:00"),
        "QUESTION_MAX_LENGTH": env_int("QUESTION_MAX_LENGTH", 4000),
        # Chat: sending rate per user, invitation limits, "new message" e-mail throttle.
        "CHAT_RATE_LIMIT": os.environ.get("CHAT_RATE_LIMIT", "30 per 10 seconds"),
        "CHAT_DECLINE_COOLDOWN_DAYS": env_int("CHAT_DECLINE_COOLDOWN_DAYS", 30),
        "CHAT_MAX_PENDING_INVITATIONS": env_int("CHAT_MAX_PENDING_INVITATIONS", 3),
        "CHAT_EMAIL_INTERVAL_MINUTES": env_int("CHAT_EMAIL_INTERVAL_MINUTES", 60),
        # The contact rule (portal/accounts/contact_rule.py): the company's minimum gap between
        # unsolicited contacts to one HCP, by anyone; the window and default of the HCP's cap;
        # the channels an HCP who never chose accepts.
        "CONTACT_MIN_GAP_DAYS": env_int("CONTACT_MIN_GAP_DAYS", 2),
        "CONTACT_WINDOW_DAYS": env_int("CONTACT_WINDOW_DAYS", 30),
        "CONTACT_DEFAULT_CAP": env_int("CONTACT_DEFAULT_CAP", 4),
        "CONTACT_MAX_CAP": env_int("CONTACT_MAX_CAP", 12),
        "CONTACT_DEFAULT_CHANNELS": os.environ.get("CONTACT_DEFAULT_CHANNELS", "portal chat visit"),
        # While a chat stays open, its staff participant attests for safety at least this often
        # (and always once it ends): were the HCP's words an adverse event or a complaint?
        "SAFETY_ATTESTATION_DAYS": env_int("SAFETY_ATTESTATION_DAYS", 7),
        "DEMO_PASSWORD": "demo-pass-2026",
        # Languages of pages and mail (portal/i18n.py): a user's choice, else the browser's.
        "LANGUAGES": LANGUAGES,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
    }
