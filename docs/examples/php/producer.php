<?php
/*
 * Sends messages to a retentiond router input and waits for every ack or nack.
 * Needs Debian's php-cli and php-zmq (apt-get install php-cli php-zmq).
 *
 *   php producer.php tcp://127.0.0.1:5556 orders.csv
 *   php producer.php --window=20 --timeout=10 tcp://127.0.0.1:5556 events.jsonl
 *
 * Input (a file, or standard input when none or "-"): *.csv orders with the
 * header of `retentionctl import` (order_id,client_id,ts,amount[,margin]
 * [,manager_id][,currency]), each row an order.created; otherwise JSON lines
 * {"topic": "...", "data": {...}}.
 *
 * The router protocol (CONTRACT.md "router mode (in)"): up to --window
 * messages are in flight; retentiond answers each with `ack` + id once it is
 * committed, or `nack` + id + reason when it refused it. A message not
 * answered within --timeout seconds is sent again (a duplicate is acknowledged
 * and changes nothing), at most --max-sends times. A simpler relative of
 * ../python/producer.py: no reconnect detection (the timeout covers it).
 * Messages go out in input order. Two messages with one id are never in
 * flight together (the second, and all behind it, waits for the first's
 * answer), and replies are counted per id, so a late reply to an earlier send
 * of an id is never taken for the answer to a later message with that id.
 *
 * Prints `nack ID REASON` and `unanswered ID` lines (and `ack ID` with
 * --verbose), a summary on standard error. Exit status: 0 when every message
 * was answered (acked or nacked), 1 when some was not or an input line was
 * unreadable, 2 usage.
 */

const ACK_FIELDS = [
    'order.created' => ['order_id', 'client_id'],
    'order.updated' => ['order_id'],
    'order.cancelled' => ['order_id'],
    'deal.lost' => ['deal_id', 'client_id'],
    'client.upsert' => ['client_id'],
    'nps.response' => ['job_id', 'client_id'],
    'reactivation.outcome' => ['task_id'],
    'clock.tick' => ['ts'],
    'improvement.recorded' => ['improvement_id'],
];
const GENERIC_ACK_FIELDS = ['order_id', 'deal_id', 'job_id', 'task_id', 'client_id'];
const CSV_COLUMNS = ['order_id', 'client_id', 'ts', 'amount', 'margin', 'manager_id', 'currency'];

/* The id retentiond names its reply to (topic, data) by (the first id field
 * the message has, as daemon/event.c reads it), or null when none. */
function ack_id(string $topic, array $data): ?string
{
    foreach (ACK_FIELDS[$topic] ?? GENERIC_ACK_FIELDS as $field) {
        if (!array_key_exists($field, $data))
            continue;
        $v = $data[$field];
        if ($v === null && ($field === 'job_id' || !isset(ACK_FIELDS[$topic])))
            continue; // an optional field that is null is "not given"
        $ok = is_string($v) && $v !== '' && strlen($v) <= 128 && preg_match('//u', $v)
            && !preg_match('/[\x00-\x1f\x7f]|\xc2[\x80-\x9f]/', $v);
        return $ok ? $v : null;
    }
    return null;
}

/* Yields [where, topic, data] or [where, null, why] for each input line. */
function read_input(string $path): Generator
{
    $name = $path === '-' ? 'stdin' : $path;
    $f = $path === '-' ? STDIN : fopen($path, 'r'); // readable: checked before
    if (str_ends_with($path, '.csv')) {
        $header = fgetcsv($f, null, ',', '"', '');
        $missing = array_diff(['order_id', 'client_id', 'ts', 'amount'], $header ?: []);
        if ($missing) {
            yield ["$name:1", null, 'header lacks ' . implode(', ', $missing)];
            return;
        }
        for ($line = 2; ($row = fgetcsv($f, null, ',', '"', '')) !== false; $line++) {
            if ($row === [null])
                continue; // a blank line
            if (count($row) !== count($header)) {
                yield ["$name:$line", null, 'expected ' . count($header) . ' cells'];
                continue;
            }
            $data = array_filter(array_intersect_key(array_combine($header, $row),
                                                     array_flip(CSV_COLUMNS)),
                                 fn($v) => $v !== '');
            yield ["$name:$line", 'order.created', $data];
        }
    } else {
        for ($line = 1; ($text = fgets($f)) !== false; $line++) {
            if (trim($text) === '')
                continue;
            $msg = json_decode($text, true);
            if (!is_array($msg) || !is_string($msg['topic'] ?? null) || !is_array($msg['data'] ?? null))
                yield ["$name:$line", null, 'expected {"topic": "...", "data": {...}}'];
            else
                yield ["$name:$line", $msg['topic'], $msg['data']];
        }
    }
}

function usage(): never
{
    fwrite(STDERR, "usage: php producer.php [--window=N] [--timeout=S] [--max-sends=N] [--verbose]"
                   . " ENDPOINT [FILE]\n");
    exit(2);
}

$opts = getopt('', ['window:', 'timeout:', 'max-sends:', 'verbose', 'help'], $rest);
$args = array_slice($argv, $rest);
if (isset($opts['help']) || count($args) < 1 || count($args) > 2)
    usage();
$window = (int)($opts['window'] ?? 50);
$timeout = (float)($opts['timeout'] ?? 5);
$maxSends = (int)($opts['max-sends'] ?? 10);
$verbose = isset($opts['verbose']);
if ($window < 1 || $timeout <= 0 || $maxSends < 1)
    usage();
if (($args[1] ?? '-') !== '-' && !is_readable($args[1])) {
    fwrite(STDERR, "producer.php: cannot read {$args[1]}\n");
    exit(2);
}

$ctx = new ZMQContext();
$sock = new ZMQSocket($ctx, ZMQ::SOCKET_DEALER);
$sock->setSockOpt(ZMQ::SOCKOPT_LINGER, 2000);
$sock->setSockOpt(ZMQ::SOCKOPT_HEARTBEAT_IVL, 2000);     // notice a vanished peer
$sock->setSockOpt(ZMQ::SOCKOPT_HEARTBEAT_TIMEOUT, 6000);
$sock->connect($args[0]);
$poll = new ZMQPoll();
$poll->add($sock, ZMQ::POLL_IN);

$input = read_input($args[1] ?? '-');
$inflight = [];   // id => message: ['id', 'where', 'frames', 'sends', 'deadline', 'base']
$held = null;     // the next message in input order, while its id is in flight
$count = [];      // id => [sends, replies] (see the header: late replies)
$stats = ['messages' => 0, 'acked' => 0, 'nacked' => 0, 'unanswered' => 0, 'invalid' => 0,
          'sends' => 0];

$send = function (array &$m) use ($sock, &$count, &$stats, $timeout) {
    $c = $count[$m['id']] ?? [0, 0];
    $m['base'] ??= $c[0];
    if ($sock->sendmulti($m['frames'], ZMQ::MODE_DONTWAIT) !== false)
        $c[0]++; // else the queue to a lost daemon is full: the timeout re-sends
    $count[$m['id']] = $c;
    $m['sends']++;
    $m['deadline'] = microtime(true) + $timeout;
    $stats['sends']++;
};
$finish = function (string $id, string $result, string $reason = '')
    use (&$inflight, &$held, &$count, &$stats, $verbose) {
    $m = $inflight[$id];
    unset($inflight[$id]);
    $stats[$result]++;
    if ($result === 'nacked')
        echo "nack $id $reason\n";
    elseif ($result === 'unanswered')
        echo "unanswered $id ({$m['where']}) after {$m['sends']} sends\n";
    elseif ($verbose)
        echo "ack $id\n";
    if (($held === null || (string)$held['id'] !== $id) && isset($count[$id])
        && $count[$id][0] === $count[$id][1])
        unset($count[$id]); // no reply to it can still come, and the next message differs
};

while (true) {
    // Fill the window in input order.
    while (count($inflight) < $window) {
        if ($held !== null) {
            if (isset($inflight[$held['id']]))
                break;
            $m = $held;
            $held = null;
        } elseif ($input->valid()) {
            [$where, $topic, $data] = $input->current();
            $input->next();
            if ($topic === null) {
                $stats['invalid']++;
                echo "invalid $where: $data\n";
                continue;
            }
            $id = ack_id($topic, $data);
            if ($id === null) {
                $stats['invalid']++;
                echo "invalid $where: no id field that can name the reply\n";
                continue;
            }
            $body = json_encode((object)$data, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
            $m = ['id' => $id, 'where' => $where, 'frames' => [$topic, $body], 'sends' => 0,
                  'deadline' => 0, 'base' => null];
            $stats['messages']++;
            if (isset($inflight[$id])) {
                $held = $m;
                break;
            }
        } else {
            break;
        }
        $send($m);
        $inflight[$m['id']] = $m;
    }
    if (!$inflight)
        break;

    $first = min(array_column($inflight, 'deadline'));
    $readable = $writable = [];
    $poll->poll($readable, $writable, max(0, (int)(($first - microtime(true)) * 1000)));
    while ($readable && ($frames = $sock->recvmulti(ZMQ::MODE_DONTWAIT)) !== false) {
        $id = $frames[1] ?? '';
        if (!isset($count[$id]))
            continue; // no message of ours has this id (a nack without one, say)
        $count[$id][1]++;
        if (!isset($inflight[$id]) || $count[$id][1] <= $inflight[$id]['base'])
            continue; // a late reply to an earlier send of this id
        if ($frames[0] === 'ack')
            $finish($id, 'acked');
        else
            $finish($id, 'nacked', $frames[2] ?? '(no reason)');
    }
    $now = microtime(true);
    foreach (array_keys($inflight) as $id) {
        if ($inflight[$id]['deadline'] > $now)
            continue;
        if ($inflight[$id]['sends'] >= $maxSends)
            $finish((string)$id, 'unanswered');
        else
            $send($inflight[$id]);
    }
}

fwrite(STDERR, sprintf("producer.php: %d messages: %d acked, %d nacked, %d unanswered, "
                       . "%d invalid lines; %d sends\n", $stats['messages'], $stats['acked'],
                       $stats['nacked'], $stats['unanswered'], $stats['invalid'], $stats['sends']));
exit($stats['unanswered'] || $stats['invalid'] ? 1 : 0);
