#!/usr/bin/python3
"""Sends one order to retentiond's router input over CURVE and waits for its ack.

    retentionctl keygen erp                      # erp.key, erp.pub; erp.pub goes to clients_dir
    ./producer.py tcp://127.0.0.1:5557 /etc/retentiond/keys/retentiond.pub erp o-1 c-1 1234.56

Exit 0 on ack, 1 on nack, 2 when no reply came within 10 s (an unknown key is
refused by the server during the handshake: nothing is ever sent).
"""
import argparse
import json
import sys
from datetime import datetime, timezone

import zmq

from common import add_arguments, curve_dealer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("order_id")
    parser.add_argument("client_id")
    parser.add_argument("amount")
    args = parser.parse_args()

    ctx = zmq.Context()
    sock = curve_dealer(ctx, args)
    order = {"order_id": args.order_id, "client_id": args.client_id,
             "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "amount": args.amount}
    sock.send_multipart([b"order.created", json.dumps(order).encode()])
    if not sock.poll(10000):
        print("no reply within 10 s", file=sys.stderr)
        return 2
    reply = sock.recv_multipart()
    print(" ".join(f.decode(errors="replace") for f in reply))
    return 0 if reply[0] == b"ack" else 1


if __name__ == "__main__":
    sys.exit(main())
