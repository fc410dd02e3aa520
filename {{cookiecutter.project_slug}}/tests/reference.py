"""The contract's report computed with the standard library only, to check Polars against.

A day's report is computed from that day's input partition alone (orders/date=D/*.csv).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

ReportRow = tuple[date, str, str, int, float]


def clean_orders(source: Path, day: date) -> list[dict[str, object]]:
    """A day's orders with an amount that is present and not negative, plus their UTC date."""
    kept = []
    for path in sorted((source / "orders" / f"date={day.isoformat()}").glob("*.csv")):
        with path.open(newline="") as orders:
            for row in csv.DictReader(orders):
                if row["amount"] == "" or float(row["amount"]) < 0:
                    continue
                moment = datetime.fromisoformat(row["order_ts"].replace("Z", "+00:00"))
                kept.append(
                    {
                        "order_id": int(row["order_id"]),
                        "customer_id": int(row["customer_id"]),
                        "amount": float(row["amount"]),
                        # Exact, from the text: what the report's revenue must add up to.
                        "cents": round(Decimal(row["amount"]) * 100),
                        "order_date": moment.date(),
                    }
                )
    return kept


def latest_customers(source: Path) -> dict[int, tuple[str, str]]:
    """customer_id -> (segment, country), the last line winning."""
    customers: dict[int, tuple[str, str]] = {}
    for line in (source / "customers.ndjson").read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            customers[record["customer_id"]] = (record["segment"], record["country"])
    return customers


def daily_report(source: Path, day: date) -> list[ReportRow]:
    """A day's rows of (order_date, segment, country, orders, revenue), sorted by the keys."""
    customers = latest_customers(source)
    totals: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for order in clean_orders(source, day):
        segment, country = customers.get(order["customer_id"], ("unknown", "unknown"))  # type: ignore[arg-type]
        total = totals[(order["order_date"], segment, country)]  # type: ignore[index]
        total[0] += 1
        total[1] += order["cents"]  # type: ignore[operator]
    # cents / 100 is the float nearest the exact sum: what an exact report holds.
    return [(*key, count, cents / 100) for key, (count, cents) in sorted(totals.items())]
