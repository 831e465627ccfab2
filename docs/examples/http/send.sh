#!/bin/sh
# send.sh — POST a file of events to retentiond's HTTP ingest with curl.
#
# Usage: RETENTIOND_TOKEN=... send.sh FILE
#   FILE   one {"topic": ..., "data": {...}} object, or a JSON array of them
#   RETENTIOND_URL    default http://127.0.0.1:8080
#   RETENTIOND_TOKEN  one of the tokens in the ingest entry's token_file
#
# Prints the answer's body. Exit status: 0 every event committed (200),
# 2 some refused (422: the "rejected" list names them; fix and send those
# again), 1 anything else (401, 413, 400...). A request the daemon did not
# answer (not running, killed, restarting) is sent again, up to 10 times:
# that is always safe, a re-sent event is acknowledged again and stored once.
set -eu
file=${1:?usage: send.sh FILE}
url=${RETENTIOND_URL:-http://127.0.0.1:8080}
token=${RETENTIOND_TOKEN:?set RETENTIOND_TOKEN}
body=$(mktemp)
trap 'rm -f "$body"' EXIT
# The token goes through a header file on stdin, not the command line (which
# other users can read in ps).
code=$(printf 'Authorization: Bearer %s\n' "$token" |
  curl --silent --show-error --max-time 60 \
       --retry 10 --retry-delay 1 --retry-connrefused --retry-all-errors \
       -H @- -H 'Content-Type: application/json' \
       --data-binary @"$file" -o "$body" -w '%{http_code}' \
       "$url/v1/events") || true
cat "$body"; echo   # the answer is one JSON object without a final newline
case "$code" in
  200) exit 0 ;;
  422) exit 2 ;;
  *) echo "send.sh: HTTP status ${code:-none}" >&2; exit 1 ;;
esac
