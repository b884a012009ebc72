#!/usr/bin/env bash
# Tests need a real Redis server. If none answers on 127.0.0.1:6379, start one (installing
# Debian's redis-server first when it is missing). Idempotent; prints what it did.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

if answers; then
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ensure-redis: installing redis-server (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi
echo "ensure-redis: starting redis-server on 127.0.0.1:6379"
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/mpc-test-redis.log"
for _ in $(seq 100); do answers && exit 0; sleep 0.1; done
echo "ensure-redis: redis-server did not answer on 127.0.0.1:6379" >&2
exit 1
