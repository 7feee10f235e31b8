"""serve/websocket.py against an independent client (the websockets library), on a real
serve.http_server connection: fragments, pings, limits, closes, many messages both ways."""

from __future__ import annotations

import socket
import threading

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from serve import websocket as ws_proto
from serve.http_server import serve_wsgi, stop


class Echo:
    """A WSGI app with a socket: each message comes back (text upper-cased, bytes reversed); the
    message "close" closes with 4000, "burst" sends 200 messages from another thread first."""

    def __call__(self, environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain"]

    def websocket(self, handler) -> None:
        problem = ws_proto.handshake_problem(handler.command, handler.headers)
        if problem:
            ws_proto.refuse(handler, problem[0], "Refused", {"error": problem[1]})
            return
        ws = ws_proto.accept(handler, max_message=1000)

        def burst() -> None:
            for n in range(200):
                ws.send(n.to_bytes(2, "big") * 50)
            ws.send("burst done")

        def on_message(message) -> None:
            if message == "close":
                ws.close(4000, "asked to")
            elif message == "burst":
                threading.Thread(target=burst, daemon=True).start()
            else:
                ws.send(message.upper() if isinstance(message, str) else message[::-1])
        ws.run(on_message)


@pytest.fixture(scope="module")
def url():
    server = serve_wsgi(Echo(), "127.0.0.1", 0, None, None, "echo")
    yield f"ws://127.0.0.1:{server.server_port}/"
    stop(server)


def test_messages_fragments_and_pings(url):
    with connect(url, open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "HELLO"
        ws.send([b"ab", b"cd", b"ef"])  # one message in three frames
        assert ws.recv(timeout=10) == b"fedcba"
        assert ws.ping().wait(10)  # answered with a pong
        ws.send("burst")  # 200 messages from another thread, through the outbox in order
        got = [ws.recv(timeout=10) for _ in range(201)]
        assert got[:-1] == [n.to_bytes(2, "big") * 50 for n in range(200)] and got[-1] == "burst done"
        ws.send("close")
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=10)
    assert (ws.close_code, ws.close_reason) == (4000, "asked to")


def test_a_message_over_the_limit_closes_with_1009(url):
    with connect(url, open_timeout=10) as ws:
        with pytest.raises(ConnectionClosedError):  # the close may come while the second frame is being sent
            ws.send([b"x" * 600, b"y" * 600])  # 1200 bytes in two frames: the limit counts the whole message
            ws.recv(timeout=10)
    assert ws.close_code == 1009 and "at most 1000 bytes" in ws.close_reason


def test_the_client_closing_ends_the_session(url):
    with connect(url, open_timeout=10) as ws:
        ws.send("a")
        assert ws.recv(timeout=10) == "A"
    assert ws.close_code == 1000  # our close was answered


def test_handshake_checks():
    assert ws_proto.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's example
    good = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert ws_proto.handshake_problem("GET", good) is None
    assert ws_proto.handshake_problem("POST", good)[0] == 405
    assert ws_proto.handshake_problem("GET", {**good, "Sec-WebSocket-Version": "8"})[0] == 426
    assert ws_proto.handshake_problem("GET", {**good, "Sec-WebSocket-Key": "c2hvcnQ="})[0] == 400
    assert ws_proto.handshake_problem("GET", {**good, "Connection": "close"})[0] == 426


def test_a_bad_handshake_is_an_http_answer(url):
    from urllib.request import urlopen

    with urlopen(url.replace("ws://", "http://"), timeout=10) as plain:  # no upgrade: the WSGI app answers
        assert plain.read() == b"plain"
    port = int(url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        answer = b"".join(iter(lambda: conn.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 426 Refused") and b"Sec-WebSocket-Version: 13" in answer
    assert b"version 13 only" in answer
