"""Shared by producer.py and consumer.py: CURVE key files and socket set-up.

A key file (retentionctl keygen NAME -> NAME.key, NAME.pub) holds the
40-character Z85 key on its first line that does not start with '#'.
"""
import zmq


def read_key(path):
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                if len(line) != 40:
                    raise SystemExit(f"{path}: not a 40-character Z85 key")
                return line.encode("ascii")
    raise SystemExit(f"{path}: no key line")


def curve_dealer(ctx, args, routing_id=None):
    """A DEALER that is the CURVE client of retentiond (its server key is
    retentiond's public_key_file; ours must be in its clients_dir)."""
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 2000  # ms: the last ack still goes out when we exit
    sock.curve_serverkey = read_key(args.server_key)
    sock.curve_publickey = read_key(args.name + ".pub")
    sock.curve_secretkey = read_key(args.name + ".key")
    if routing_id:
        sock.routing_id = routing_id.encode()
    sock.connect(args.endpoint)
    return sock


def add_arguments(parser):
    parser.add_argument("endpoint", help='e.g. "tcp://127.0.0.1:5557"')
    parser.add_argument("server_key", help="retentiond's public key file (its public_key_file)")
    parser.add_argument("name", help="our key pair: NAME.key and NAME.pub (retentionctl keygen NAME)")
