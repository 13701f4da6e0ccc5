"""Configuration: safe defaults here, secrets and URLs from the environment, overrides from
tests."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

TRUE_WORDS = {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in TRUE_WORDS


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


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


def load_config(instance_path: Path) -> dict[str, Any]:
    """Configuration read from the environment, with safe defaults."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'portal.db'}"
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or instance_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        # A server can drop idle connections (restart, failover): test each one before use. A
        # SQLite file cannot, and the test would cost a statement on every request.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": not database_url.startswith("sqlite")},
        "REDIS_URL": redis_url,
        # Flask-Limiter shares its counters across processes when Redis is there.
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "20 per minute"),
        "LOGIN_MAX_FAILURES": env_int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_MINUTES": env_int("LOGIN_LOCKOUT_MINUTES", 15),
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
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "").rstrip("/") or None,
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", True),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": env_int("SESSION_LIFETIME_SECONDS", 8 * 3600),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024),
        "MAX_MATERIAL_BYTES": env_int("MAX_MATERIAL_BYTES", 20 * 1024 * 1024),
        "SOCKETIO_ASYNC_MODE": os.environ.get("SOCKETIO_ASYNC_MODE") or None,
        "OUTBOX_INTERVAL_SECONDS": env_int("OUTBOX_INTERVAL_SECONDS", 15),
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
        # While a chat stays open, its staff participant attests for safety at least this often
        # (and always once it ends): were the HCP's words an adverse event or a complaint?
        "SAFETY_ATTESTATION_DAYS": env_int("SAFETY_ATTESTATION_DAYS", 7),
        "DEMO_PASSWORD": "demo-pass-2026",
    }
