"""What a connection per request costs the HTTP gateway's callers, against HTTP/1.1 keep-alive
(one connection carrying request after request, as the OpenAI SDK's and browsers' pools do), in
plain HTTP and HTTPS, on a real speech-server process (codec only: these calls need no TTS).

    python benchmarks/http_keep_alive.py [--requests 100] [--rounds 3]

Calls: ``GET /healthz`` (the smallest answer) and ``POST /v1/audio/decode`` of a 1 s ``.codes``
file (a codec call; the answer is 48 KB of 16-bit audio). Reported: milliseconds per request
(medians over ``--rounds`` of ``--requests`` requests one after another), and the kept
connection's ratio against a connection per request measured in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import start_server  # noqa: E402
from tests.conftest import self_signed  # noqa: E402 (the tests' own, made by openssl)


def per_request(connect, calls: list[tuple[str, str, bytes | None, dict]], keep: bool) -> float:
    """Seconds per request over ``calls``: one connection kept, or one per request."""
    conn = connect()
    start = time.perf_counter()
    for method, path, body, headers in calls:
        if not keep:
            conn = connect()
            headers = {**headers, "Connection": "close"}
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data[:200]
        if not keep:
            conn.close()
    conn.close()
    return (time.perf_counter() - start) / len(calls)


def codes_file(port: int) -> bytes:
    """A 1 s .codes file, made by the server from a 1 s tone (the gateway's own encode)."""
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(24000)
        w.writeframes((np.sin(np.arange(24000) * 2 * np.pi * 220 / 24000) * 8000).astype("<i2").tobytes())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/audio/codes", buf.getvalue(), {"Content-Type": "audio/wav"})
    return conn.getresponse().read()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = self_signed(Path(tmp))
        plain, _, _ = start_server("distilcodec", 4, ["--http-port", "0"])
        tls, _, _ = start_server("distilcodec", 4, ["--http-port", "0", "--tls-cert", str(cert), "--tls-key", str(key)])
        try:
            port, tls_port = (int(proc.serving["http"].rsplit(":", 1)[1]) for proc in (plain, tls))
            codes = codes_file(port)
            context = ssl.create_default_context(cafile=str(cert))
            ways = {"HTTP": lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=60),
                    "HTTPS": lambda: http.client.HTTPSConnection("localhost", tls_port, context=context, timeout=60)}
            calls = {"GET /healthz": ("GET", "/healthz", None, {}),
                     "POST /v1/audio/decode (1 s)": ("POST", "/v1/audio/decode?format=pcm", codes,
                                                     {"Content-Type": "application/octet-stream"})}
            print(f"{args.requests} requests one after another, medians of {args.rounds} rounds\n")
            print("| call | scheme | connection per request ms | kept connection ms | ratio |")
            print("|---|---|---|---|---|")
            for name, call in calls.items():
                for scheme, connect in ways.items():
                    per_request(connect, [call] * 5, True)  # warm
                    fresh, kept = ([per_request(connect, [call] * args.requests, keep) for _ in range(args.rounds)]
                                   for keep in (False, True))
                    fresh, kept = statistics.median(fresh), statistics.median(kept)
                    print(f"| {name} | {scheme} | {1000 * fresh:.2f} | {1000 * kept:.2f} | {fresh / kept:.2f}x |")
        finally:
            for proc in (plain, tls):
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
