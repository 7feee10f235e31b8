"""TLS files checked before gRPC sees them.

gRPC's core meets a bad certificate or key by logging lines of its own to stderr
(``ssl_transport_security.cc``, ``add_port.cc``, ...) and then failing with a message that
names neither file: a server's bind fails as if its port were busy, a client cannot connect.
OpenSSL, through the standard library, says which file is wrong first, in one line.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from codec.typed_config import ConfigError


def read_pem(path: str | Path) -> bytes:
    """A TLS key or certificate file; a missing or non-PEM one is refused."""
    data = Path(path).read_bytes()
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{path}: not a PEM file (expected '-----BEGIN ...')")
    return data


def read_certificates(path: str | Path, flag: str) -> bytes:
    """PEM certificates (a CA for a client, a server's own): refused unless OpenSSL reads one."""
    data = read_pem(path)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=data.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError):
        raise ConfigError(f"{flag} {path}: not a certificate") from None
    return data


def server_key_pair(cert: str | Path, key: str | Path) -> tuple[bytes, bytes]:
    """(key, certificate) for ``grpc.ssl_server_credentials``: the key must be a usable private
    key, and the certificate's."""
    key_pem, cert_pem = read_pem(key), read_certificates(cert, "--tls-cert")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as err:
        if "KEY_VALUES_MISMATCH" in str(err):
            raise ConfigError(f"--tls-key {key} is not the key of --tls-cert {cert}") from None
        raise ConfigError(f"--tls-key {key}: not a usable private key") from None
    return key_pem, cert_pem
