#!/usr/bin/python3
"""Sends messages to a retentiond router input and waits for every ack or nack.

    ./producer.py tcp://127.0.0.1:5556 orders.csv
    ./producer.py tcp://127.0.0.1:5556 events.jsonl --window 200 --timeout 10
    some-export | ./producer.py tcp://127.0.0.1:5556 --format jsonl

Input (files, or standard input when none or "-"):
  *.csv    orders, with the header of `retentionctl import`:
           order_id,client_id,ts,amount[,margin][,manager_id][,currency];
           each row becomes an order.created (empty optional cells are left out)
  *.jsonl  one message a line: {"topic": "order.created", "data": {...}},
           the envelope of the HTTP input (docs/examples/README.md)

How it sends (the router protocol, CONTRACT.md "router mode (in)"):
  - up to --window messages are in flight (sent, not yet answered);
  - retentiond answers each message with `ack` + id once it is committed,
    or `nack` + id + reason when it refused it (kept as a dead letter);
  - a message not answered within --timeout seconds is sent again, and every
    message in flight is sent again at once after a reconnect (a daemon that
    restarted has lost what it had not committed); re-sending is safe: a
    duplicate is acknowledged and changes nothing;
  - a message is given up after --max-sends sends without an answer.
Messages go out in input order. Replies carry only the message's id, so two
messages with one id (an order.created and its order.updated) are never in
flight together: the second, and everything behind it, waits for the first's
answer (so no message overtakes another: a clock.tick stays behind the
orders before it). Only re-sends can reorder, which retentiond allows for
(CONTRACT.md "Orders out of order").

Output: `nack ID REASON`, `unanswered ID` and `invalid FILE:LINE: WHY` lines
on standard output (`ack ID` too with --verbose); a summary on standard error.

Exit status: 0 when every message was answered (acked or nacked: a nack is
an answer, printed for you to act on); 1 when some message was given up
unanswered or an input line could not be read as a message; 2 usage.
"""
import argparse
import collections
import csv
import json
import signal
import sys
import time

import zmq

from common import Dealer, ack_id, add_socket_arguments

# A reply that comes this long after its message's last send is no longer
# expected (retentiond answers on commit, within seconds); the bookkeeping
# kept to recognise it (see Ids) is then dropped.
STALE_AFTER_S = 120
CSV_COLUMNS = ("order_id", "client_id", "ts", "amount", "margin", "manager_id", "currency")


class Message:
    __slots__ = ("where", "topic", "frames", "id", "sends", "deadline", "base")

    def __init__(self, where, topic, data):
        self.where = where  # "FILE:LINE", for reports
        self.topic = topic
        self.id = ack_id(topic, data)  # raises ValueError
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        self.frames = [topic.encode(), body.encode()]
        self.sends = 0
        self.deadline = 0.0
        self.base = None  # replies to this id that belong to earlier sends (see Ids)


def read_csv(f, name):
    reader = csv.DictReader(f)
    missing = {"order_id", "client_id", "ts", "amount"} - set(reader.fieldnames or ())
    if missing:
        yield f"{name}:1", ValueError(f"header lacks {', '.join(sorted(missing))}")
        return
    for row in reader:
        where = f"{name}:{reader.line_num}"
        data = {k: row[k] for k in CSV_COLUMNS if row.get(k)}
        try:
            yield where, Message(where, "order.created", data)
        except ValueError as e:
            yield where, e


def read_jsonl(f, name):
    for number, line in enumerate(f, 1):
        where = f"{name}:{number}"
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict) or not isinstance(msg.get("topic"), str) \
                    or not isinstance(msg.get("data"), dict):
                raise ValueError('expected {"topic": "...", "data": {...}}')
            yield where, Message(where, msg["topic"], msg["data"])
        except ValueError as e:  # json.JSONDecodeError is one
            yield where, e


def read_inputs(paths, fmt):
    """Yields (where, Message or ValueError) for every input line, lazily:
    a file larger than memory is sent as it is read."""
    for path in paths or ["-"]:
        kind = fmt
        if kind == "auto":
            kind = "csv" if path.endswith(".csv") else "jsonl"
        name = "stdin" if path == "-" else path
        f = sys.stdin if path == "-" else open(path, encoding="utf-8", newline="")
        with f:
            yield from (read_csv if kind == "csv" else read_jsonl)(f, name)


class Ids:
    """Matches replies to messages when all they carry is an id.

    A message may be sent several times, and each send is answered at most
    once; so a reply to an earlier send of an id (a re-send after a reconnect
    whose first copy was answered too) can arrive after that message is done
    and the next message with the same id is in flight. Per id we count sends
    and replies: a message whose first send came after `base` sends of its id
    is answered only by a reply beyond the first `base` replies. When replies
    are lost the count errs on the safe side: the message is sent once more.
    """

    def __init__(self):
        self.count = {}  # id -> [sends, replies, last send time]

    def sent(self, m, now):
        c = self.count.setdefault(m.id, [0, 0, now])
        if m.base is None:
            m.base = c[0]
        c[0] += 1
        c[2] = now

    def replied(self, m_id, m):
        """Counts a reply for m_id; True when it answers m (in flight, or None)."""
        c = self.count.get(m_id)
        if c is None:
            return False
        c[1] += 1
        return m is not None and m.base is not None and c[1] > m.base

    def done(self, m_id, next_has_it):
        """m_id's message is answered: forget the id unless a reply to one of
        its sends may still come while the next message has the same id."""
        c = self.count.get(m_id)
        if c is not None and (c[0] == c[1] or not next_has_it):
            del self.count[m_id]

    def expire(self, now, inflight):
        for key in [k for k, c in self.count.items()
                    if k not in inflight and now - c[2] > STALE_AFTER_S]:
            del self.count[key]


class Producer:
    def __init__(self, args, out):
        self.args = args
        self.out = out
        self.dealer = Dealer(args, args.routing_id)
        self.ids = Ids()
        self.inflight = collections.OrderedDict()  # id -> Message, oldest send first
        self.held = None  # the next message, while its id is in flight
        self.exhausted = False
        self.stats = collections.Counter()
        self.interrupted = False
        self.next_expiry = 0.0

    def report(self, line):
        print(line, file=self.out, flush=True)

    def send(self, m, now):
        try:
            self.dealer.sock.send_multipart(m.frames, flags=zmq.NOBLOCK)
            self.ids.sent(m, now)
        except zmq.Again:
            pass  # the queue to a lost daemon is full: this send counts, the timeout re-sends
        m.sends += 1
        m.deadline = now + self.args.timeout
        self.stats["sends"] += 1
        self.inflight[m.id] = m
        self.inflight.move_to_end(m.id)

    def finish(self, m, result, reason=""):
        """m is answered (or given up): the next message with its id may go."""
        del self.inflight[m.id]
        self.stats[result] += 1
        if result == "nacked":
            self.report(f"nack {m.id} {reason}")
        elif result == "unanswered":
            self.report(f"unanswered {m.id} ({m.where}) after {m.sends} sends")
        elif self.args.verbose:
            self.report(f"ack {m.id}")
        self.ids.done(m.id, self.held is not None and self.held.id == m.id)

    def on_reply(self, frames, now):
        verb = frames[0]
        m_id = frames[1].decode("utf-8", errors="replace") if len(frames) > 1 else ""
        m = self.inflight.get(m_id)
        if not self.ids.replied(m_id, m):
            if not m_id and verb == b"nack":
                # Only a message we did not send (we never send one without
                # an id) or one over the daemon's max_message_bytes has none.
                reason = frames[2].decode(errors="replace") if len(frames) > 2 else ""
                print(f"producer: a nack without an id: {reason}", file=sys.stderr)
            self.stats["late replies"] += 1
            return
        if verb == b"ack":
            self.finish(m, "acked")
        else:
            reason = frames[2].decode(errors="replace") if len(frames) > 2 else "(no reason)"
            self.finish(m, "nacked", reason)

    def expired(self, now):
        while self.inflight:
            m = next(iter(self.inflight.values()))
            if m.deadline > now:
                return
            if m.sends >= self.args.max_sends:
                self.finish(m, "unanswered")
            else:
                self.stats["re-sends"] += 1
                self.send(m, now)

    def next_message(self, source):
        """The next message in input order if it may be sent now, else None."""
        if self.held is not None:
            if self.held.id in self.inflight:
                return None
            m, self.held = self.held, None
            return m
        for where, m in source:
            if isinstance(m, ValueError):
                self.stats["invalid"] += 1
                self.report(f"invalid {where}: {m}")
                continue
            self.stats["messages"] += 1
            if m.id in self.inflight:
                self.held = m
                return None
            return m
        self.exhausted = True
        return None

    def run(self, source):
        source = iter(source)
        while True:
            now = time.monotonic()
            while len(self.inflight) < self.args.window:
                m = self.next_message(source)
                if m is None:
                    break
                self.send(m, now)
            if not self.inflight:
                return
            wait = next(iter(self.inflight.values())).deadline - now
            readable, connected = self.dealer.poll(wait * 1000)
            now = time.monotonic()
            if connected and self.dealer.connections > 1:
                # A reconnect: what the old connection carried may be lost.
                print(f"producer: reconnected; sending {len(self.inflight)} messages in flight "
                      "again", file=sys.stderr)
                for m in list(self.inflight.values()):
                    self.stats["re-sends"] += 1
                    self.send(m, now)
            while readable:
                try:
                    self.on_reply(self.dealer.sock.recv_multipart(zmq.NOBLOCK), now)
                except zmq.Again:
                    break
            self.expired(now)
            if now >= self.next_expiry:
                self.ids.expire(now, self.inflight)
                self.next_expiry = now + 1.0

    def summary(self):
        s = self.stats
        return (f"producer: {s['messages']} messages: {s['acked']} acked, {s['nacked']} nacked, "
                f"{s['unanswered']} unanswered, {s['invalid']} invalid lines; "
                f"{s['sends']} sends ({s['re-sends']} re-sends), {s['late replies']} late replies")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="See the module's docstring (or docs/examples/README.md) for the protocol.")
    add_socket_arguments(parser)
    parser.add_argument("files", nargs="*", help='*.csv or *.jsonl; "-" or none: standard input')
    parser.add_argument("--format", choices=("auto", "csv", "jsonl"), default="auto",
                        help="auto: by file name (*.csv, else JSON lines)")
    parser.add_argument("--window", type=int, default=100,
                        help="messages in flight at most (default 100)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds before an unanswered message is sent again (default 5)")
    parser.add_argument("--max-sends", type=int, default=10,
                        help="sends of one message before it is given up (default 10)")
    parser.add_argument("--routing-id", help="our routing id (default: libzmq's own)")
    parser.add_argument("--verbose", action="store_true", help="print every ack too")
    args = parser.parse_intermixed_args()  # options may follow the files
    if args.window < 1 or args.timeout <= 0 or args.max_sends < 1:
        parser.error("--window and --max-sends must be at least 1, --timeout above 0")

    # SIGTERM ends the run like Ctrl-C: with a summary of what was answered.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    producer = Producer(args, sys.stdout)
    try:
        producer.run(read_inputs(args.files, args.format))
    except KeyboardInterrupt:
        print(f"producer: interrupted with {len(producer.inflight)} messages in flight",
              file=sys.stderr)
        producer.interrupted = True
    except OSError as e:
        print(f"producer: {e}", file=sys.stderr)
        return 2
    finally:
        print(producer.summary(), file=sys.stderr)
        producer.dealer.close()
    s = producer.stats
    return 0 if not (producer.interrupted or s["unanswered"] or s["invalid"]) else 1


if __name__ == "__main__":
    sys.exit(main())
