"""Builds the portal. ``python wsgi.py`` serves it with gevent (HTTP and Socket.IO on one port)."""

if __name__ == "__main__":
    # Patch before anything imports socket, ssl or threading.
    from gevent import monkey

    monkey.patch_all()

from portal import create_app
from portal.config import SecretKeyError
from portal.urls import PublicURLError

try:
    app = create_app()
except (PublicURLError, SecretKeyError) as exc:
    # A serving process without PUBLIC_URL, or sharing data without SECRET_KEY: one clear
    # line, not a traceback.
    raise SystemExit(f"error: {exc}") from None

if __name__ == "__main__":
    from portal.server import serve

    serve(app)
