"""Shared by producer.py and consumer.py: the DEALER set-up, reconnect
detection, and the id rules of retentiond's router protocol.

Only Debian's python3-zmq (pyzmq) is needed; run with /usr/bin/python3.
"""
import sys

import zmq
from zmq.utils.monitor import recv_monitor_message

# The id a router input names in its reply: per topic, the first of these
# fields that the message has (an optional field that is null is skipped).
# These mirror daemon/event.c (topic_ack_fields); a topic missing here (an
# unknown one) is named by the first of GENERIC_ACK_FIELDS it has.
ACK_FIELDS = {
    "order.created": ("order_id", "client_id"),
    "order.updated": ("order_id",),
    "order.cancelled": ("order_id",),
    "deal.lost": ("deal_id", "client_id"),
    "client.upsert": ("client_id",),
    "nps.response": ("job_id", "client_id"),
    "reactivation.outcome": ("task_id",),
    "clock.tick": ("ts",),
    "improvement.recorded": ("improvement_id",),
}
OPTIONAL_ACK_FIELDS = {("nps.response", "job_id")}
GENERIC_ACK_FIELDS = ("order_id", "deal_id", "job_id", "task_id", "improvement_id", "client_id")

# The id of an output (what its consumer acknowledges and deduplicates on).
OUTPUT_ID_FIELDS = ("task_id", "alert_id", "job_id", "touch_id")

ID_MAX_BYTES = 128


def id_problem(value):
    """Why value cannot be an id (None when it can): a non-empty string of at
    most 128 bytes of UTF-8 without control characters."""
    if not isinstance(value, str):
        return "not a string"
    raw = value.encode("utf-8", errors="surrogatepass")
    if not raw:
        return "empty"
    if len(raw) > ID_MAX_BYTES:
        return f"longer than {ID_MAX_BYTES} bytes"
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value):
        return "control character"
    return None


def ack_id(topic, data):
    """The id retentiond will name its ack or nack of (topic, data) by, or
    raises ValueError when it would name none (its reply would then be an
    empty id that no sender can match)."""
    for field in ACK_FIELDS.get(topic, GENERIC_ACK_FIELDS):
        if field not in data:
            continue
        value = data[field]
        optional = topic not in ACK_FIELDS or (topic, field) in OPTIONAL_ACK_FIELDS
        if value is None and optional:
            continue
        problem = id_problem(value)
        if problem:
            raise ValueError(f'field "{field}" cannot name the reply: {problem}')
        return value
    raise ValueError(f"no id field ({', '.join(ACK_FIELDS.get(topic, GENERIC_ACK_FIELDS))})")


def output_id(output):
    """The id of an output body (a dict), or None when it has none."""
    for field in OUTPUT_ID_FIELDS:
        value = output.get(field)
        if isinstance(value, str) and value:
            return value
    return None


def read_key(path):
    """The Z85 key in a key file (retentionctl keygen): its first line that
    does not start with '#'."""
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                if len(line) != 40:
                    raise SystemExit(f"{path}: not a 40-character Z85 key")
                return line.encode("ascii")
    raise SystemExit(f"{path}: no key line")


def add_socket_arguments(parser):
    parser.add_argument("endpoint", help='retentiond\'s socket, e.g. "tcp://127.0.0.1:5556"')
    parser.add_argument("--server-key", metavar="FILE",
                        help="security.curve: retentiond's public key file (with --keys)")
    parser.add_argument("--keys", metavar="NAME",
                        help="security.curve: our key pair NAME.key, NAME.pub "
                             "(retentionctl keygen NAME; NAME.pub goes to clients_dir)")


class Dealer:
    """A DEALER connected to retentiond, with a monitor that tells when a
    connection is made, so that the caller can act after every reconnect
    (libzmq reconnects by itself and says nothing on the socket)."""

    def __init__(self, args, routing_id=None, linger_ms=0):
        if bool(args.server_key) != bool(args.keys):
            raise SystemExit("--server-key and --keys go together")
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        # How long close() waits for queued messages to leave: a consumer's
        # last acks are worth a moment; nothing else is lost by closing (it
        # is re-sent, or re-delivered, by the protocol).
        self.sock.linger = linger_ms
        # ZMTP heartbeats: a peer that vanished without closing (a dead host,
        # a cut cable) is noticed within 6 s and the connection is remade.
        self.sock.heartbeat_ivl = 2000
        self.sock.heartbeat_timeout = 6000
        if routing_id:
            self.sock.routing_id = routing_id.encode()
        if args.server_key:
            self.sock.curve_serverkey = read_key(args.server_key)
            self.sock.curve_publickey = read_key(args.keys + ".pub")
            self.sock.curve_secretkey = read_key(args.keys + ".key")
        # The monitor is set before connecting, so the first connection is seen too.
        self.monitor = self.sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        self.refusals = 0
        self.endpoint = args.endpoint
        self.sock.connect(args.endpoint)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)
        self.connections = 0  # connections made (handshakes completed) so far

    def poll(self, timeout_ms):
        """Waits up to timeout_ms. Returns (readable, connected): whether a
        message waits on the socket, and whether a connection was (re)made
        since the last call."""
        events = dict(self.poller.poll(max(0, int(timeout_ms))))
        connected = False
        if self.monitor in events:
            while self.monitor.poll(0):
                event = recv_monitor_message(self.monitor)["event"]
                # A connection carries messages once its ZMTP handshake
                # is done (with CURVE: once the server accepted our key).
                if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    self.connections += 1
                    connected = True
                elif self.refusals == 0:  # libzmq retries: say it once
                    self.refusals += 1
                    print(f"{self.endpoint}: handshake refused ({event.name}): with "
                          "security.curve, is our public key in its clients_dir, and is "
                          "--server-key its public key?", file=sys.stderr)
        return self.sock in events, connected

    def close(self):
        self.sock.disable_monitor()
        self.monitor.close(linger=0)
        self.sock.close()
        self.ctx.term()
