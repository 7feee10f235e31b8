"""What the gateway's WebSockets share (the text stream, ``serve.speech_socket``; the codec's
streams, ``serve.codec_socket``): each is one gRPC streaming call made over the gateway's
channel, so the server's checks, limits and statuses apply unchanged.

The client's first message is its options, a JSON object (``token`` among them: the bearer
token, for browsers, which cannot set headers), within FIRST_MESSAGE_S of the socket opening;
the messages after it are the protocol's own. The call's answers are relayed to the socket from
a thread of their own. A request refused is answered ``{"type": "error", "error": {message,
type, code}}`` (OpenAI's error body) and a close 1008; a server failure the same with 1011; a
client that leaves cancels its call.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod

import grpc

from serve import websocket as ws_proto
from serve.http_gateway import HttpError, check_token, error_body, rpc_failure

FIRST_MESSAGE_S = 10.0  # the options must come this soon after the socket opens


class SocketSession(ABC):
    """One socket's session: the options first (within FIRST_MESSAGE_S), the call, its relay,
    the errors; what the messages mean is the subclass's."""

    first_binary = "send the options first, as a JSON text message"  # the error a binary first message gets

    def __init__(self, ws: ws_proto.WebSocket, token: str) -> None:
        self.ws, self.token = ws, token
        self.call = None
        self.opened = False

    def run(self) -> None:
        timer = threading.Timer(FIRST_MESSAGE_S, self._no_options)
        timer.daemon = True
        timer.start()
        try:
            self.ws.run(self._on_message)
        finally:
            timer.cancel()
            if self.call is not None:
                self.call.cancel()  # the client left: its call stops
            self.closing()

    @abstractmethod
    def open(self, options: dict) -> None:
        """The first message, a JSON object: check it, start ``self.call`` and its relay."""

    @abstractmethod
    def more(self, message: bytes | dict) -> None:
        """A later message: binary, or a JSON object."""

    @abstractmethod
    def relay(self) -> None:
        """The call's answers to the socket, then its end (on the relay's thread)."""

    @abstractmethod
    def closing(self) -> None:
        """The socket is over: end the call's input."""

    def metadata(self, token: str) -> list[tuple[str, str]]:
        """The call's metadata: the options' ``token`` (a string, checked with the options), else the
        handshake's Authorization header; refused unless the server's."""
        token = f"Bearer {token}" if token else self.token
        check_token(token)
        return [("authorization", token)] if token else []

    def start_relay(self, name: str) -> None:
        threading.Thread(target=self._relayed, name=name, daemon=True).start()

    def _relayed(self) -> None:
        try:
            self.relay()
        except grpc.RpcError as err:
            if not self.ws.done.is_set():
                self.fail(*rpc_failure(err))
        except ConnectionError:
            self.call.cancel()  # the client left

    def _on_message(self, message: bytes | str) -> None:
        try:
            if not self.opened:
                if isinstance(message, bytes):
                    raise HttpError(400, self.first_binary)
                self.opened = True
                self.open(_json_object(message))
            else:
                self.more(message if isinstance(message, bytes) else _json_object(message))
        except HttpError as err:
            self.fail(err.status, error_body(str(err), err.kind))
        except grpc.RpcError as err:  # a unary call the options needed (the model's info) was refused
            self.fail(*rpc_failure(err))

    def _no_options(self) -> None:
        if not self.opened and not self.ws.done.is_set():
            self.fail(400, error_body(f"send the options first (no message came in {FIRST_MESSAGE_S:g} s)",
                                      "invalid_request_error"))

    def fail(self, status: int, body: dict) -> None:
        try:
            self.ws.send(json.dumps({"type": "error", **body}))
            self.ws.close(ws_proto.POLICY if status < 500 else ws_proto.SERVER_ERROR, body["error"]["message"])
        except ConnectionError:
            pass


def _json_object(message: str) -> dict:
    try:
        body = json.loads(message)
    except ValueError as err:
        raise HttpError(400, f"a message is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise HttpError(400, 'a message must be a JSON object, e.g. {"end": true}')
    return body


def refuse_unknown(body: dict, allowed: set[str], noun: str, where: str) -> None:
    """Refuse fields a message does not read (a typo is an error, not a silent default)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise HttpError(400, f"unknown {noun}{'s' * (len(unknown) > 1)} {', '.join(unknown)} ({where} reads "
                             f"{', '.join(sorted(allowed))})")
