"""WebSocket (RFC 6455) sessions on connections the HTTP server (``serve.http_server``) accepted.

The handshake is answered here; frames are wsproto's (sans-IO, so no second server and no
event loop). All of a session's socket I/O happens on its connection's thread: other threads
hand it messages through a small bounded outbox and a wake-up socket (a TLS socket must not be
read and written from two threads at once). A client that stops reading for ``IDLE_S`` is
dropped; one that sends nothing is left to the protocol above (its gRPC call has an idle clock).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import queue
import select
import socket
import threading
from typing import Callable

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
MAX_MESSAGE = 1 << 20  # a client message, reassembled; a longer one closes the session (1009)
OUTBOX = 32  # messages waiting to be written; a producer waits beyond that (flow control)
CLOSE_WAIT_S = 2.0  # after our close frame, how long the client has to answer with its own
NORMAL, POLICY, TOO_BIG, UNSUPPORTED, SERVER_ERROR = 1000, 1008, 1009, 1003, 1011  # close codes


def handshake_problem(method: str, headers) -> tuple[int, str] | None:
    """Why an upgrade request cannot become a WebSocket (HTTP status, message), or None."""
    if method != "GET":
        return 405, f"a WebSocket opens with GET, not {method}"
    if headers.get("Upgrade", "").lower() != "websocket" or "upgrade" not in headers.get("Connection", "").lower():
        return 426, "this endpoint speaks WebSocket (send Upgrade: websocket, Connection: Upgrade)"
    if headers.get("Sec-WebSocket-Version") != "13":
        return 426, "WebSocket version 13 only (Sec-WebSocket-Version: 13)"
    try:
        key = base64.b64decode(headers.get("Sec-WebSocket-Key", ""), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        return 400, "Sec-WebSocket-Key must be 16 bytes, base64"
    return None


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def refuse(handler, status: int, reason: str, body: dict) -> None:
    """An HTTP answer (JSON ``body``) instead of the upgrade; the connection then closes."""
    data = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            + ("Sec-WebSocket-Version: 13\r\n" if status == 426 else "") + "Connection: close\r\n\r\n")
    handler.wfile.write(head.encode() + data)
    handler.wfile.flush()


def accept(handler, max_message: int = MAX_MESSAGE) -> "WebSocket":
    """Answer the (checked) upgrade request of a ``http.server`` handler: the session begins."""
    head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(handler.headers['Sec-WebSocket-Key'])}\r\n\r\n")
    handler.wfile.write(head.encode())
    handler.wfile.flush()
    return WebSocket(handler.connection, max_message)


class WebSocket:
    """One server-side session: ``run`` (on the connection's thread) reads and writes; any thread
    may ``send`` a message or ``close``."""

    def __init__(self, sock: socket.socket, max_message: int = MAX_MESSAGE) -> None:
        self.sock, self.max_message = sock, max_message
        self.conn = Connection(ConnectionType.SERVER)
        self.outbox: queue.Queue = queue.Queue(OUTBOX)
        self.done = threading.Event()  # the session is over: nothing more is sent
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._parts: list = []  # a fragmented message's frames so far
        self.close_code: int | None = None  # how the session ended (the client's code, or ours)
        self._runner: int | None = None  # the thread in ``run``

    def send(self, message: bytes | str) -> None:
        """Queue a binary (bytes) or text (str) message; waits while the outbox is full. Raises
        ConnectionError once the session is over (the client left)."""
        self._post(message)

    def close(self, code: int = NORMAL, reason: str = "") -> None:
        """Close after what is queued: our close frame, then the client's answer."""
        self._post(CloseConnection(code, reason.encode()[:123].decode(errors="ignore")))

    def _post(self, item) -> None:
        if threading.get_ident() == self._runner:  # from on_message: write now (waiting here would wait on itself)
            self._write(item)
            return
        while not self.done.is_set():
            try:
                self.outbox.put(item, timeout=0.2)
            except queue.Full:
                continue
            try:
                self._wake_w.send(b"\0")
            except (BlockingIOError, OSError):
                pass  # a wake-up is already waiting, or the session just ended
            return
        raise ConnectionError("the WebSocket is closed")

    def run(self, on_message: Callable[[bytes | str], None]) -> None:
        """Serve the session until it closes: ``on_message`` gets each whole client message (on
        this thread: it must not wait for the outbox); pings are answered."""
        self._runner = threading.get_ident()
        try:
            while self.conn.state not in (ConnectionState.CLOSED, ConnectionState.REJECTING):
                closing = self.conn.state is ConnectionState.LOCAL_CLOSING
                pending = getattr(self.sock, "pending", lambda: 0)()  # TLS bytes already decrypted
                ready = [self.sock] if pending else select.select(
                    [self.sock, self._wake_r], [], [], CLOSE_WAIT_S if closing else None)[0]
                if not ready:
                    break  # the client never answered our close
                if self._wake_r in ready:
                    self._wake_r.recv(4096)
                    self._write_outbox()
                if self.sock in ready:
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    self.conn.receive_data(data)
                    self._read_events(on_message)
        except (OSError, LocalProtocolError, RemoteProtocolError):
            pass  # the client went away, stopped reading, or broke the protocol: the session ends
        finally:
            self.done.set()
            self._wake_r.close()
            self._wake_w.close()

    def _write_outbox(self) -> None:
        while self.conn.state is ConnectionState.OPEN:
            try:
                item = self.outbox.get_nowait()
            except queue.Empty:
                return
            self._write(item)

    def _write(self, item: bytes | str | CloseConnection) -> None:
        if self.conn.state is not ConnectionState.OPEN:
            return  # closing: what was left to say is dropped
        if isinstance(item, CloseConnection):
            self.close_code = item.code
        event = item if isinstance(item, CloseConnection) else (
            TextMessage(item) if isinstance(item, str) else BytesMessage(item))
        self.sock.sendall(self.conn.send(event))

    def _read_events(self, on_message: Callable[[bytes | str], None]) -> None:
        for event in self.conn.events():
            if isinstance(event, Ping):
                self.sock.sendall(self.conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code = self.close_code or event.code
                if self.conn.state is ConnectionState.REMOTE_CLOSING:
                    self.sock.sendall(self.conn.send(event.response()))
                return
            elif isinstance(event, Message):
                self._parts.append(event.data)
                if sum(map(len, self._parts)) > self.max_message:
                    self._parts = []
                    self._write(CloseConnection(TOO_BIG, f"a message is at most {self.max_message} bytes"))
                    return
                if event.message_finished:
                    whole = ("" if isinstance(event, TextMessage) else b"").join(self._parts)
                    self._parts = []
                    on_message(whole)
