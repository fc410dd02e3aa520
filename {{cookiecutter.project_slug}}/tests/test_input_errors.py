"""A bad or suspicious input of this pipeline ends `make run` with one ERROR line naming the file.

Suspicious: an empty snapshot, a day without a valid row (unless ALLOW_EMPTY_DAYS), a row that
lacks a required field. In a run of several days the message names the file, not its folder.

The tracebacks `--debug` shows, the failed state's message and the warning for a day with no
rows are the library's (the template's tests/library).
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pytest
from prefect.artifacts import Artifact

from prefect_polars_cloud.storage.input_errors import InputError
from prefect_polars_cloud.testing.input_errors import InputErrors, published

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

DAY = "2026-11-01"  # one day: its one orders file is the one a message can name
ORDERS = f"orders/date={DAY}/orders.csv"
HEADER = b"order_id,customer_id,order_ts,amount\n"
GOOD_CUSTOMER = b'{"customer_id": 1, "segment": "smb", "country": "DE"}\n'
# (file, its content, what the ERROR line must say about it): what this pipeline's declarations
# make of its inputs. How any file is read (binary, not UTF-8, malformed JSON, blank) is the
# library's, tested once in the template (tests/library/test_input_errors.py).
BAD_INPUTS = {
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
    # Polars would read these as nulls, or as nothing, and publish a wrong report.
    "customer-without-segment": (
        "customers.ndjson",
        GOOD_CUSTOMER + b'{"customer_id": 2, "country": "FR"}\n' + GOOD_CUSTOMER,
        "line 2 has no segment (missing or empty)",
    ),
    "order-without-customer": (
        ORDERS,
        HEADER + b"1,1,2026-11-01T10:00:00Z,5.0\n2,,2026-11-01T11:00:00Z,7.5\n",
        "a row has no customer_id (missing or empty)",
    ),
    "empty-customers": ("customers.ndjson", b"", "no rows: every day of the run"),
    "header-only-orders": (ORDERS, HEADER, f"no rows for {DAY}"),
    "no-valid-order": (
        ORDERS,
        HEADER + b"1,1,2026-11-01T10:00:00Z,-5.0\n2,1,2026-11-01T11:00:00Z,\n",
        f"no valid row for {DAY}",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_a_bad_input_is_one_error_line_naming_the_file(
    case: str, local_mode: None, input_errors: InputErrors
) -> None:
    name, content, problem = BAD_INPUTS[case]

    input_errors.assert_refused(daily_report, name, content, problem, start=DAY)


def test_a_day_without_rows_names_the_setting_that_allows_it(
    local_mode: None, input_errors: InputErrors, tmp_path: Path
) -> None:
    source = input_errors.with_file(ORDERS, HEADER)

    with pytest.raises(InputError) as refused:
        daily_report(start=DAY, source_uri=str(source), output_uri=str(tmp_path / "out"))

    assert f"set {ENV_PREFIX}ALLOW_EMPTY_DAYS=true" in str(refused.value)


@pytest.mark.parametrize(
    "case", ["empty-customers", "header-only-orders", "no-valid-order", "order-without-customer"]
)
def test_suspicious_data_leaves_the_published_days_as_they_were(
    case: str, local_mode: None, sample_dir: Path, input_errors: InputErrors
) -> None:
    output = input_errors.output
    daily_report(start=DAY, source_uri=str(sample_dir), output_uri=str(output))
    before = published(output)
    name, content, _ = BAD_INPUTS[case]

    with pytest.raises(InputError):
        daily_report(
            start=DAY,
            source_uri=str(input_errors.with_file(name, content)),
            output_uri=str(output),
        )

    assert published(output) == before


@pytest.mark.parametrize("content", [HEADER, HEADER + b"1,1,2026-11-01T10:00:00Z,-5.0\n"])
def test_allowed_empty_days_are_published_empty_with_a_warning(
    content: bytes,
    local_mode: None,
    monkeypatch: pytest.MonkeyPatch,
    input_errors: InputErrors,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}ALLOW_EMPTY_DAYS", "true")
    source = input_errors.with_file(ORDERS, content)
    caplog.set_level(logging.WARNING)

    location = daily_report(start=DAY, source_uri=str(source), output_uri=str(tmp_path / "out"))

    assert not list((Path(location) / f"date={DAY}").glob("*.parquet")), "no rows, no files"
    artifact = Artifact.get("daily-report")
    assert artifact is not None and f"**Warning:** {DAY} has no rows" in str(artifact.data)
    assert f"{DAY} has no rows" in caplog.text


@pytest.mark.parquet_report
def test_a_field_may_be_empty_where_the_datasets_say_so(
    local_mode: None, input_errors: InputErrors, tmp_path: Path
) -> None:
    # The orders' amount is nullable (datasets.py): an order without one is dropped, not refused.
    content = HEADER + b"1,1,2026-11-01T10:00:00Z,5.0\n2,1,2026-11-01T11:00:00Z,\n"
    source = input_errors.with_file(ORDERS, content)

    location = daily_report(start=DAY, source_uri=str(source), output_uri=str(tmp_path / "out"))

    assert pl.read_parquet(f"{location}/date={DAY}/")["orders"].sum() == 1


# A bad file in the middle of a run of three days: (its content, what the line says).
BAD_DAY = "2026-11-02"
IN_A_RANGE = {
    "order-without-timestamp": (HEADER + b"1,1,,5.0\n", "a row has no order_ts"),
}


@pytest.mark.parametrize("case", IN_A_RANGE, ids=list(IN_A_RANGE))
def test_a_bad_file_among_several_days_is_named_by_its_path(
    case: str, local_mode: None, input_errors: InputErrors
) -> None:
    content, problem = IN_A_RANGE[case]
    name = f"orders/date={BAD_DAY}/orders.csv"

    input_errors.assert_refused(daily_report, name, content, problem, start=DAY, end="2026-11-03")


# docs/pipeline.md shows these two tests (test_the_docs_show_these_tests keeps them the same).
def test_an_empty_customers_file_is_one_error_line(local_mode, input_errors):
    input_errors.assert_refused(
        daily_report, "customers.ndjson", b"", "no rows", start="2026-11-01"
    )


def test_the_flow_stops_every_cluster_it_started(cloud_mode, s3_data):
    daily_report(start="2026-11-01", source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")
    assert cloud_mode.names().count("start_compute") > 0
    assert cloud_mode.running() == []


def test_the_docs_show_these_tests() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "pipeline.md").read_text()
    block = docs.split("## Testing the flow", 1)[1].split("```python\n", 1)[1].split("```")[0]
    imports, tests = block.split("\n\n\n", 1)
    source = Path(__file__).read_text()
    assert all(line in source.splitlines() for line in imports.splitlines())
    assert tests in source
