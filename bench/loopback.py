"""Servers the benchmarks start on 127.0.0.1, and stop, whatever happens."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping


def free_port() -> int:
    """Return a port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(
    command: list[str], health_url: str, env: Mapping[str, str] | None = None, seconds: float = 120
) -> Iterator[None]:
    """Start a server, wait until health_url answers, and stop the server afterwards."""
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(health_url, timeout=1)  # noqa: S310 - loopback only
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(command[:3])} did not start") from None
                time.sleep(0.2)
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Serve S3 and Secrets Manager with moto; point boto3 and Polars at it; yield its endpoint.

    The variables are set in this process (throwaway credentials) and stay set after: the
    scripts that use this run one measurement each.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with serving(moto, f"{endpoint}/moto-api/"):
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto's throwaway key
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ALLOW_HTTP="true",
        )
        yield endpoint
