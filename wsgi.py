"""Builds the portal. ``python wsgi.py`` serves it with gevent (HTTP and Socket.IO on one port)."""

if __name__ == "__main__":
    # Patch before anything imports socket, ssl or threading.
    from gevent import monkey

    monkey.patch_all()

from portal import create_app

app = create_app()

if __name__ == "__main__":
    from portal.server import serve

    serve(app)
