"""A threaded HTTP(S) server for a WSGI app: the metrics scrape and the speech gateway.

Each connection shakes hands (TLS) and is served on a thread of its own, and is dropped after
IDLE_S of silence: one stalled client never holds up another (prometheus_client's own server
shakes hands on its accepting thread, where one silent client stops every scrape). A request to
upgrade to a WebSocket goes to the app's ``websocket(handler)``, where it has one.
"""

from __future__ import annotations

import socket
import ssl
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

IDLE_S = 10.0  # a connection that says nothing (or reads nothing) for this long is dropped


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ContinueOnRead:
    """A request body whose client sent ``Expect: 100-continue`` (curl does for uploads over
    1 MB), with the "100 Continue" it waits for sent on the first read: without one it waited a
    second before sending, and an app that refuses from the headers alone (413) never asks."""

    def __init__(self, rfile, wfile) -> None:
        self._rfile, self._wfile, self._asked = rfile, wfile, False

    def _ask(self) -> None:
        if not self._asked:
            self._asked = True
            self._wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._wfile.flush()

    def read(self, *args: Any) -> bytes:
        self._ask()
        return self._rfile.read(*args)

    def readline(self, *args: Any) -> bytes:
        self._ask()
        return self._rfile.readline(*args)

    def readlines(self, *args: Any) -> list[bytes]:
        self._ask()
        return self._rfile.readlines(*args)

    def __iter__(self):
        self._ask()
        return iter(self._rfile)


class _QuietHandler(WSGIRequestHandler):
    """One request: no access log line, and a client that stalls (the handshake included) is
    dropped after IDLE_S."""

    timeout = IDLE_S

    def setup(self) -> None:
        """As http.server's, with Nagle off: an answer's headers and body go out as separate writes,
        and its last small segment otherwise waits for the client's delayed ACK (benchmarks/
        http_gateway.py, a 4 s decode: 41-43 ms against gRPC's 24 ms in 2 runs of 3 before, 33-35
        against 29-32 ms after)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def parse_request(self) -> bool:
        """As http.server's (which answers ``Expect: 100-continue`` only when it speaks HTTP/1.1:
        here the body's first read does); a WebSocket upgrade is then served here, on this
        connection's thread, by the app's ``websocket`` (WSGI has no way to hand a connection over)."""
        if not super().parse_request():
            return False
        if self.headers.get("Expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1":
            self.rfile = _ContinueOnRead(self.rfile, self.wfile)  # what wsgiref hands the app as wsgi.input
        websocket = getattr(self.server.get_app(), "websocket", None)
        if websocket is None or self.headers.get("Upgrade", "").lower() != "websocket":
            return True
        websocket(self)
        self.close_connection = True
        return False  # wsgiref's handle() stops here: the connection is done


def serve_wsgi(app: Callable, host: str, port: int, cert: str | None, key: str | None, what: str) -> WSGIServer:
    """Serve ``app`` on ``host:port`` (0: a free port; HTTPS with a certificate) from a daemon
    thread; ``what`` names it in the one-line error a bad address or certificate gets."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        server = make_server(host, port, app, type("Server", (_ThreadingServer,), {"address_family": family}),
                             handler_class=_QuietHandler)
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    except (OSError, ssl.SSLError) as err:
        raise OSError(f"cannot serve {what} on {host}:{port}: {getattr(err, 'strerror', None) or err}") from None
    threading.Thread(target=server.serve_forever, name=what, daemon=True).start()
    return server


def stop(server: WSGIServer) -> None:
    server.shutdown()
    server.server_close()
