#!/usr/bin/python3
"""Receives outputs from a retentiond router output over CURVE, acknowledging each.

    retentionctl keygen crm                      # crm.key, crm.pub; crm.pub goes to clients_dir
    ./consumer.py tcp://127.0.0.1:5560 /etc/retentiond/keys/retentiond.pub crm --count 1

Prints one line per output: topic and body. Sends `ready` first, and `ack` +
the output's id after handling it (here: printing). Exit 0 after --count
outputs, 2 when none came for --timeout seconds.
"""
import argparse
import json
import sys

import zmq

from common import add_arguments, curve_dealer

ID_FIELDS = ("task_id", "alert_id", "job_id")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--routing-id", default="crm-1",
                        help="stable per consumer: a reconnect gets its unacknowledged outputs again")
    parser.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    ctx = zmq.Context()
    sock = curve_dealer(ctx, args, args.routing_id)
    sock.send(b"ready")
    done = 0
    while args.count == 0 or done < args.count:
        if not sock.poll(int(args.timeout * 1000)):
            print(f"no output within {args.timeout} s", file=sys.stderr)
            return 2
        topic, body = sock.recv_multipart()
        print(topic.decode(), body.decode(), flush=True)
        output = json.loads(body)
        output_id = next(output[k] for k in ID_FIELDS if k in output)
        sock.send_multipart([b"ack", output_id.encode()])  # after handling: at least once
        done += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
