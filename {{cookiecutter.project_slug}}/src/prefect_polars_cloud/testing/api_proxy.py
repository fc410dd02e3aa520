"""A Prefect API that can die: a loopback TCP forwarder to a real server, run as its own process.

    python -m prefect_polars_cloud.testing.api_proxy http://127.0.0.1:PORT/api

Prints its own API URL once it listens. `kill -9` of this process is a Prefect server (or the
network to Prefect Cloud) dying at once, without stopping the test session's shared server.
"""

from __future__ import annotations

import socket
import sys
import threading
from urllib.parse import urlsplit


def pipe(source: socket.socket, target: socket.socket) -> None:
    """Copy bytes one way until either side closes."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main() -> None:
    """Forward every connection to the API given, until killed."""
    upstream = urlsplit(sys.argv[1])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    print(f"http://127.0.0.1:{port}{upstream.path}", flush=True)
    while True:
        client, _ = listener.accept()
        server = socket.create_connection((upstream.hostname, upstream.port or 80))
        for source, target in ((client, server), (server, client)):
            threading.Thread(target=pipe, args=(source, target), daemon=True).start()


if __name__ == "__main__":
    main()
