#!/usr/bin/python3
"""Receives outputs from a retentiond router output, deduplicates and acknowledges them.

    ./consumer.py tcp://127.0.0.1:5560 --routing-id crm-1
    ./consumer.py tcp://127.0.0.1:5560 --routing-id crm-1 --count 10 --idle 60

The loop (CONTRACT.md "router mode (out)", "Router replies"):
  - connect a DEALER with a stable routing id and send `ready`; send it again
    after every reconnect (a restarted daemon knows no consumers, and a known
    one that says `ready` again gets its unacknowledged outputs at once);
  - receive an output (topic, body), process it, then send `ack` + its id
    (task_id, alert_id, job_id or touch_id); what is not acknowledged within
    the stream's ack_timeout_s is sent again, so delivery is at least once;
  - deduplicate on the id: an id seen before is acknowledged again (the daemon
    re-sent it because our ack did not reach it) but not processed again.

Processing here is printing one JSON line {"topic": ..., "data": {...}} on
standard output, the envelope of the HTTP input and the webhooks.

The set of seen ids is bounded (--seen-max, oldest forgotten first). The daemon
re-sends an id only until one ack for it is recorded, that is within about
ack_timeout_s of its last send, or on a reconnect: so the set needs to hold
the ids of the last few minutes, and 100,000 (about 18 MB) is plenty for
one consumer. A consumer that must never repeat an action across its own
restarts keeps the ids where it keeps the action's result (a unique key on
task_id in its database, written in the same transaction).

Exit status: 0 after --count outputs were processed and acknowledged (or, with
--idle and no --count, after that many seconds without a message, or on
SIGTERM/SIGINT); 2 when --idle seconds passed before --count was reached.
"""
import argparse
import collections
import json
import signal
import sys
import time

from common import Dealer, add_socket_arguments, output_id


class Seen:
    """A set of the last `limit` ids, oldest forgotten first."""

    def __init__(self, limit):
        self.limit = limit
        self.ids = collections.OrderedDict()

    def add(self, key):
        """Adds key; False when it was already there."""
        if key in self.ids:
            self.ids.move_to_end(key)  # a duplicate now: it may come again soon
            return False
        self.ids[key] = None
        if len(self.ids) > self.limit:
            self.ids.popitem(last=False)
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_socket_arguments(parser)
    parser.add_argument("--routing-id", default="consumer-1",
                        help="stable per consumer: a reconnect gets its unacknowledged outputs again")
    parser.add_argument("--count", type=int, default=0,
                        help="exit after this many outputs were processed and acked (0: never)")
    parser.add_argument("--idle", type=float, default=0,
                        help="exit after this many seconds without a message (0: never)")
    parser.add_argument("--seen-max", type=int, default=100000,
                        help="ids remembered for deduplication (default 100000)")
    parser.add_argument("--withhold-first-ack", action="store_true",
                        help="process the first output but do not acknowledge it, so that "
                             "the daemon sends it again (to see deduplication at work)")
    args = parser.parse_args()
    if args.seen_max < 1:
        parser.error("--seen-max must be at least 1")

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    dealer = Dealer(args, args.routing_id, linger_ms=2000)  # the last acks still leave
    sock = dealer.sock
    seen = Seen(args.seen_max)
    withheld = set()  # processed, ack not sent yet: the count waits for these
    processed = duplicates = 0
    last_message = time.monotonic()
    status = 0
    try:
        while args.count == 0 or processed < args.count or withheld:
            wait = args.idle - (time.monotonic() - last_message) if args.idle else 1.0
            if args.idle and wait <= 0:
                if args.count:
                    print(f"consumer: nothing for {args.idle} s, {processed} of {args.count} "
                          "outputs processed", file=sys.stderr)
                    status = 2
                break
            readable, connected = dealer.poll(wait * 1000)
            if connected:
                sock.send(b"ready")  # first connection or a reconnect
            if not readable:
                continue
            frames = sock.recv_multipart()
            last_message = time.monotonic()
            try:
                if len(frames) != 2:
                    raise ValueError(f"{len(frames)} frames")
                topic = frames[0].decode()
                data = json.loads(frames[1])
                out_id = output_id(data)
                if out_id is None:
                    raise ValueError("no task_id, alert_id, job_id or touch_id")
            except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ones
                # Not ours to acknowledge: it would be sent again after
                # ack_timeout_s, and logged each time, which is what we want.
                print(f"consumer: cannot read an output: {e}", file=sys.stderr)
                continue
            if seen.add(out_id):
                print(json.dumps({"topic": topic, "data": data}, ensure_ascii=False,
                                 separators=(",", ":")), flush=True)
                processed += 1
                if args.withhold_first_ack and processed == 1:
                    withheld.add(out_id)
                    print(f"consumer: withholding the ack of {out_id}", file=sys.stderr)
                    continue
            else:
                duplicates += 1
                withheld.discard(out_id)
                print(f"consumer: duplicate {out_id}: acknowledged again, not processed",
                      file=sys.stderr)
            # After processing: a crash before this line means a re-send, never a loss.
            sock.send_multipart([b"ack", out_id.encode()])
    except KeyboardInterrupt:
        pass
    finally:
        print(f"consumer: {processed} outputs processed, {duplicates} duplicates skipped",
              file=sys.stderr)
        dealer.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
