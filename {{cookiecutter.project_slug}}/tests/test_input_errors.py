"""A bad input of this pipeline's datasets ends `make run` with one ERROR line naming the file.

The tracebacks `--debug` shows, the failed state's message and the warning for a day with no
rows are the library's (the template's tests/library).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prefect_polars_cloud.local_run import run_locally

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

DAY = "2026-11-01"  # one day: its one orders file is the one a message can name
ORDERS = f"orders/date={DAY}/orders.csv"
GOOD_CUSTOMER = b'{"customer_id": 1, "segment": "smb", "country": "DE"}\n'
# (file, its content, what the ERROR line must say about it)
BAD_INPUTS = {
    "binary-orders": (ORDERS, bytes(range(256)) * 12, "not a text file"),
    "orders-without-amount": (
        ORDERS,
        b"order_id,customer_id,order_ts\n1,1,2026-11-01T10:00:00Z\n",
        "missing column(s) amount",
    ),
    "amount-not-a-number": (
        ORDERS,
        b"order_id,customer_id,order_ts,amount\n1,1,2026-11-01T10:00:00Z,12.5\n2,1,x,abc\n",
        "could not parse `abc`",
    ),
    "one-malformed-json-line": (
        "customers.ndjson",
        GOOD_CUSTOMER + b'{"customer_id": 2, , "country": "FR"}\n' + GOOD_CUSTOMER,
        "line 2 is not a JSON object",
    ),
}


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def with_file(sample_dir: Path, tmp_path: Path, name: str, content: bytes) -> Path:
    """Return a copy of the sample inputs with one file replaced."""
    source = tmp_path / "source"
    shutil.copytree(sample_dir, source)
    (source / name).write_bytes(content)
    return source


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_a_bad_input_is_one_error_line_naming_the_file(
    case: str,
    local_mode: None,
    sample_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    name, content, problem = BAD_INPUTS[case]
    source = with_file(sample_dir, tmp_path, name, content)
    output = tmp_path / "output"

    argv = ["--start", DAY, "--source", str(source), "--output", str(output)]
    code = run_locally(daily_report, argv)

    out, err = capfd.readouterr()
    errors = [line for line in (out + err).splitlines() if line.startswith("ERROR:")]
    assert code == 1
    assert len(errors) == 1, out + err
    assert errors[0].startswith(f"ERROR: {source.resolve() / name}: ")
    assert problem in errors[0]
    assert "Traceback" not in out + err
    assert not list(output.rglob("*.partial"))
