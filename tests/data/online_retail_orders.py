#!/usr/bin/python3
"""Derives tests/data/online_retail_orders.csv from the UCI "Online Retail" data set.

Usage:
    tests/data/online_retail_orders.py [SOURCE.csv] > tests/data/online_retail_orders.csv

SOURCE defaults to /work/shared/data/online_retail/online_retail.csv, the CSV
conversion of the R package onlineretail 0.1.2 (data/onlineretail.rda), whose
columns are InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,
CustomerID,Country (see tests/data/README.md for the source and the license).

The output is retentionctl import's format, `order_id,client_id,ts,amount`, one
order per invoice:

  * order_id  = InvoiceNo, client_id = CustomerID.
  * Kept lines: CustomerID present, InvoiceNo not starting with "C" (a
    cancellation invoice), Quantity > 0. Lines with UnitPrice 0 are kept: they
    add nothing to the amount, and an invoice made only of them is an order
    of amount 0 (4 invoices), as the ERP would have sent it.
  * amount = sum of Quantity * UnitPrice over the kept lines, in exact decimal
    arithmetic (UnitPrice has at most 3 decimals, so the amount has at most 3;
    the import takes up to 4). An invoice whose sum is negative is skipped and
    reported on stderr (none in this data set: negative prices occur only on the
    "A" bad-debt adjustments, which have no CustomerID).
  * ts = the earliest InvoiceDate of the kept lines, as UTC (the R object
    stored the dates as POSIXct in UTC): 43 invoices have lines one minute
    apart, 30 of them with a CustomerID.
  * Rows are sorted by (ts, InvoiceNo), so the output is reproducible.

The counts (invoices kept, customers, zero-amount invoices, invoices with two
timestamps, invoices skipped) are printed on stderr.
"""

import csv
import sys
from datetime import datetime
from decimal import Decimal

SOURCE = "/work/shared/data/online_retail/online_retail.csv"


def main(argv):
    source = argv[1] if len(argv) > 1 else SOURCE
    invoices = {}  # InvoiceNo -> [client, earliest ts, amount, timestamps seen]
    clients_of = {}  # InvoiceNo -> set of CustomerIDs (must be one)
    with open(source, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            no, client = row["InvoiceNo"], row["CustomerID"]
            if not client or no.startswith("C") or int(row["Quantity"]) <= 0:
                continue
            ts = datetime.strptime(row["InvoiceDate"], "%Y-%m-%d %H:%M:%S")
            value = int(row["Quantity"]) * Decimal(row["UnitPrice"])
            inv = invoices.get(no)
            if inv is None:
                invoices[no] = [client, ts, value, {ts}]
                clients_of[no] = {client}
            else:
                inv[1] = min(inv[1], ts)
                inv[2] += value
                inv[3].add(ts)
                clients_of[no].add(client)

    for no, clients in clients_of.items():
        if len(clients) != 1:
            sys.exit(f"invoice {no} has several customers: {sorted(clients)}")

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["order_id", "client_id", "ts", "amount"])
    kept, skipped, zero, two_ts, customers = 0, [], 0, 0, set()
    for no, (client, ts, amount, stamps) in sorted(invoices.items(),
                                                   key=lambda kv: (kv[1][1], kv[0])):
        if amount < 0:
            skipped.append(f"{no} ({amount})")
            continue
        kept += 1
        customers.add(client)
        zero += amount == 0
        two_ts += len(stamps) > 1
        text = format(amount.normalize() if amount else Decimal(0), "f")
        out.writerow([no, client, ts.strftime("%Y-%m-%dT%H:%M:%SZ"), text])

    print(f"invoices: {kept}", file=sys.stderr)
    print(f"customers: {len(customers)}", file=sys.stderr)
    print(f"zero_amount_invoices: {zero}", file=sys.stderr)
    print(f"invoices_with_two_timestamps: {two_ts}", file=sys.stderr)
    print(f"skipped_negative_sum: {len(skipped)} {' '.join(skipped)}".rstrip(), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
