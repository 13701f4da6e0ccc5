"""The production server: gevent WSGI with TCP_NODELAY, WebSocket through simple-websocket."""

from __future__ import annotations

import socket

import gevent
import gevent.socket
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from portal.server import NoDelayWSGIServer


def _nodelay_reporting_app(environ, start_response):
    # gevent's environ exposes the accepted socket the same way simple-websocket finds it.
    sock = environ["wsgi.input"].rfile.raw._sock
    value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"nodelay=%d" % (1 if value else 0)]


def test_accepted_sockets_have_tcp_nodelay():
    server = NoDelayWSGIServer(("127.0.0.1", 0), _nodelay_reporting_app, log=None)
    server.start()
    try:
        with gevent.Timeout(10):
            conn = gevent.socket.create_connection(("127.0.0.1", server.server_port))
            conn.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
            chunks = []
            while chunk := conn.recv(4096):
                chunks.append(chunk)
            conn.close()
    finally:
        server.stop()
    assert b"".join(chunks).endswith(b"nodelay=1")


def test_live_server_speaks_websocket_on_the_http_port(live_server):
    """`python wsgi.py` upgrades Socket.IO to WebSocket (gevent + simple-websocket).

    The client side is plain wsproto over a socket: simple-websocket's own client can miss a frame
    that arrives together with the handshake response.
    """
    host, port = live_server.removeprefix("http://").split(":")
    connection = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            connection.send(Request(host=host, target="/socket.io/?EIO=4&transport=websocket"))
        )
        accepted, text = False, ""
        while not text:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            connection.receive_data(data)
            for event in connection.events():
                accepted = accepted or isinstance(event, AcceptConnection)
                if isinstance(event, TextMessage):
                    text += event.data
    assert accepted
    assert text.startswith("0{") and '"sid"' in text
