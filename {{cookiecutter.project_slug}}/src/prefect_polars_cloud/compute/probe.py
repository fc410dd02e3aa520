"""Greet a self-hosted Polars cluster's scheduler before anything is sent to it (cluster mode).

polars_cloud's client sets no bound of its own here: on a closed port `ClusterContext(uri)` keeps
retrying inside compiled code that holds the GIL (375 s, then a gRPC traceback naming neither
the URI nor the setting), and on a port that accepts but never answers the first query fails
after about 40 s. So the scheduler is greeted first as any gRPC client greets it, with an HTTP/2
connection preface (over TLS for https://), which a gRPC server answers with a SETTINGS frame.
"""

from __future__ import annotations

import socket
import ssl
import threading
from urllib.parse import urlsplit

from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings

# A scheduler on the network greets in milliseconds; the bound leaves the process's start (slow
# on a busy machine) room within the 20 s a command may take to fail.
PROBE_TIMEOUT_S = 5.0
PROBE_GRACE_S = 1.0  # for a name lookup, which the socket timeout does not cover
DEFAULT_PORT = 5051  # polars_cloud's, when the URI names none
# The client's connection preface, then an empty SETTINGS frame (9-byte header, type 4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
SETTINGS_FRAME = 4


def _read(connection: socket.socket, size: int) -> bytes:
    """Read up to size bytes, fewer only when the peer closes first."""
    received = b""
    while len(received) < size:
        chunk = connection.recv(size - len(received))
        if not chunk:
            break
        received += chunk
    return received


def _tls() -> ssl.SSLContext:
    """Return the TLS settings of the greeting: HTTP/2, any certificate."""
    context = ssl.create_default_context()
    # Liveness only: the client verifies the certificate itself when it connects.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


def _greet(host: str, port: int, tls: bool, timeout_s: float) -> str | None:
    """Say why the scheduler at host:port did not greet back as a gRPC server, or None."""
    try:
        connection = socket.create_connection((host, port), timeout=timeout_s)
        try:
            if tls:
                connection = _tls().wrap_socket(connection, server_hostname=host)
            connection.sendall(PREFACE)
            header = _read(connection, 9)
        finally:
            connection.close()
    except TimeoutError:
        return f"did not answer within {timeout_s:g} s"
    except OSError as error:
        return f"is unreachable ({type(error).__name__}: {error.strerror or error})"
    if not header:
        return "closed the connection without answering"
    if len(header) < 9 or header[3] != SETTINGS_FRAME:
        return "answered, but not as a gRPC server (HTTP/2) does"
    return None


def cluster_problem(settings: Settings, timeout_s: float | None = None) -> str | None:
    """Return why the self-hosted cluster cannot take queries, or None when it greets back.

    timeout_s defaults to PROBE_TIMEOUT_S.
    """
    setting = f"{env_prefix()}CLUSTER_URI"
    uri = settings.cluster_uri
    if not uri:
        return (
            f"{env_prefix()}COMPUTE_MODE=cluster runs queries on a self-hosted Polars cluster: "
            f"set {setting} to its scheduler (e.g. https://host:5051)"
        )
    parts = urlsplit(uri)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = 0
    if parts.scheme not in ("http", "https") or not parts.hostname or not port:
        return f"{setting}={uri!r} is not a scheduler's URI; set it as https://host:5051"
    timeout_s = PROBE_TIMEOUT_S if timeout_s is None else timeout_s
    host, tls = parts.hostname, parts.scheme == "https"
    outcome: list[str | None] = []
    probe = threading.Thread(
        target=lambda: outcome.append(_greet(host, port, tls, timeout_s)),
        name="cluster-probe",
        daemon=True,  # a name lookup that never returns must not keep the process alive
    )
    probe.start()
    probe.join(timeout_s + PROBE_GRACE_S)
    problem = outcome[0] if outcome else f"did not answer within {timeout_s:g} s"
    if problem is None:
        return None
    return f"the Polars cluster at {uri} {problem}; start it, or fix {setting}"
