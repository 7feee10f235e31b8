"""A threaded HTTP(S) server for a WSGI app: the metrics scrape and the speech gateway.

Each connection shakes hands (TLS) and is served on a thread of its own, and is dropped after
IDLE_S of silence: one stalled client never holds up another (prometheus_client's own server
shakes hands on its accepting thread, where one silent client stops every scrape). It speaks
HTTP/1.1 (wsgiref's server answers one HTTP/1.0 request per connection): a connection carries
request after request, a body of unknown length (an audio stream) is chunked, an answer that
fails once begun is left incomplete (``AnswerCut``), and a HEAD request gets a GET's headers
without its body. A request to upgrade to a WebSocket goes to
the app's ``websocket(handler)``, where it has one.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

IDLE_S = 10.0  # a connection that says nothing (or reads nothing) for this long is dropped, kept-alive ones too


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class AnswerCut(Exception):
    """Raised by an app's body iterator when its answer fails after the status line went out: the
    connection closes with the answer incomplete (a chunked body never gets its last chunk, so an
    HTTP/1.1 client reports the cut instead of taking a short answer for a whole one)."""


class _Body:
    """A request's body as the app reads it: a client that sent ``Expect: 100-continue`` (curl
    does for uploads over 1 MB) gets its "100 Continue" on the first read (without one it waited
    a second before sending; an app that refuses from the headers alone, 413, never asks), and
    what is left unread is known (the connection cannot carry another request past it)."""

    def __init__(self, rfile, wfile, length: int, expect: bool) -> None:
        self._rfile, self._wfile, self._asked = rfile, wfile, not expect
        self.unread = length

    def _ask(self) -> None:
        if not self._asked:
            self._asked = True
            self._wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._wfile.flush()

    def read(self, size: int = -1) -> bytes:
        return self._take(self._rfile.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._take(self._rfile.readline, size)

    def _take(self, reader: Callable[[int], bytes], size: int | None) -> bytes:
        """``reader``'s bytes, never past the body's end."""
        size = self.unread if size is None or size < 0 else min(size, self.unread)
        if size <= 0:
            return b""
        self._ask()
        data = reader(size)
        self.unread -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")


class _Answer(ServerHandler):
    """One answer on a connection that may carry more (HTTP/1.1 keep-alive): a body of known
    length goes as it is, one of unknown length (a stream) chunked to an HTTP/1.1 client, and
    ends the connection for an HTTP/1.0 one; to a HEAD request, the headers alone. A failure once
    the answer has begun closes the connection with the answer incomplete."""

    http_version = "1.1"
    chunked = False

    def cleanup_headers(self) -> None:
        super().cleanup_headers()  # a one-block body gets its Content-Length
        handler = self.request_handler
        bodiless = self.status[:3] in ("204", "304") or self.status[0] == "1"
        if handler.rfile.unread:  # a body the app did not read: no request can follow it
            handler.close_connection = True
        if "Content-Length" not in self.headers and not bodiless:
            if handler.request_version >= "HTTP/1.1":
                self.headers["Transfer-Encoding"], self.chunked = "chunked", True
            else:
                handler.close_connection = True
        if handler.close_connection:
            self.headers["Connection"] = "close"
        else:  # how long the connection waits for the next request (clients that read it close first)
            self.headers["Keep-Alive"] = f"timeout={IDLE_S:g}"

    def write(self, data: bytes) -> None:
        """As wsgiref's, a chunked body's blocks framed."""
        if not self.status:
            raise AssertionError("write() before start_response()")
        if not self.headers_sent:
            self.bytes_sent = len(data)  # what a one-block body's Content-Length is made from
            self.send_headers()
        else:
            self.bytes_sent += len(data)
        if self.request_handler.command == "HEAD":
            return  # the headers a GET gets (its Content-Length too), and no body
        if not self.chunked:
            self._write(data)
        elif data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))
        self._flush()

    def finish_content(self) -> None:
        super().finish_content()
        if self.chunked and self.request_handler.command != "HEAD":
            self._write(b"0\r\n\r\n")
            self._flush()

    def handle_error(self) -> None:
        self.request_handler.close_connection = True
        if sys.exc_info()[0] is AnswerCut:  # the answer stays incomplete: the client sees the cut
            if hasattr(self.result, "close"):
                self.result.close()
            return
        super().handle_error()


class _QuietHandler(WSGIRequestHandler):
    """One connection, one request after another (HTTP/1.1 keep-alive): no access log line, and a
    client that stalls (the handshake included) or leaves its connection unused is dropped after
    IDLE_S. A connection ends after an answer it cannot carry another request past: an HTTP/1.0
    client's, one whose request body was not all read, a chunked request's, a failure."""

    timeout = IDLE_S
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        """As http.server's, with Nagle off: an answer's headers and body go out as separate writes,
        and its last small segment otherwise waits for the client's delayed ACK (benchmarks/
        http_gateway.py, a 4 s decode: 41-43 ms against gRPC's 24 ms in 2 runs of 3 before, 33-35
        against 29-32 ms after)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stream = self.rfile  # the connection's; ``rfile`` is a request's body while it is served

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        self.close_connection = True
        self._one()
        while not self.close_connection and not getattr(self.server, "stopped", False):
            self._one()
        self.rfile = self.stream  # for ``finish``, which closes it

    def _one(self) -> None:
        """One request and its answer (wsgiref's ``handle`` serves one per connection)."""
        self.rfile = self.stream
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # idle too long between requests (a timeout), or gone
            self.raw_requestline = b""
        self.close_connection = True
        if not self.raw_requestline or getattr(self.server, "stopped", False):
            return  # gone; or a kept connection's request to a stopped server: closed unanswered (clients retry)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        answer = _Answer(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=False)
        answer.request_handler = self
        answer.run(self.server.get_app())
        if self.rfile.unread or answer.status is not None:  # a body left unread; an answer cut off (run did not close it)
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        return True  # answered on the body's first read (``_Body``), if the app reads it

    def parse_request(self) -> bool:
        """As http.server's, the body then read through ``_Body``; a WebSocket upgrade is served
        here, on this connection's thread, by the app's ``websocket`` (WSGI has no way to hand a
        connection over)."""
        if not super().parse_request():
            return False
        raw = self.headers.get("Content-Length", "0")
        length = int(raw) if raw.isdigit() else 0
        if "Transfer-Encoding" in self.headers or not raw.isdigit():
            self.close_connection = True  # a body this server does not frame
        websocket = getattr(self.server.get_app(), "websocket", None)
        if websocket is None or self.headers.get("Upgrade", "").lower() != "websocket":
            expect = self.headers.get("Expect", "").lower() == "100-continue" and self.request_version >= "HTTP/1.1"
            self.rfile = _Body(self.stream, self.wfile, length, expect)  # what wsgiref hands the app as wsgi.input
            return True
        websocket(self)
        self.close_connection = True
        return False  # the connection is done


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


def stop_accepting(server: WSGIServer) -> None:
    """No new connection, and no further request on those kept open; answers under way go on."""
    server.stopped = True
    server.shutdown()


def stop(server: WSGIServer) -> None:
    stop_accepting(server)
    server.server_close()
