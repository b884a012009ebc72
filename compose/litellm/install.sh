#!/usr/bin/env bash
# Install the LiteLLM proxy (litellm[proxy]==1.106.12) into its OWN virtual environment from the
# hash-pinned lock beside this script. MPC-API never imports litellm; it talks to the proxy over
# HTTP, so this venv is kept apart from the project's .venv.
#
#   compose/litellm/install.sh            # venv at ~/.cache/mpc-api/litellm-1.106.12
#   LITELLM_VENV=/some/dir install.sh     # venv elsewhere
#   LITELLM_PYTHON=/usr/bin/python3.11 install.sh
#
# Idempotent: a stamp file in the venv holds the sha256 of requirements.txt; when it matches and
# the installed litellm is the wanted version, nothing is downloaded. The last line printed on
# success is the path of the `litellm` executable.
set -euo pipefail

WANT_VERSION="1.106.12"
BANNED_VERSIONS="1.82.7 1.82.8"   # compromised releases (2026-03-24): never install or run

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# Outside the checkout by default, so fresh clones (CI runs one per submission) share it.
VENV="${LITELLM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mpc-api/litellm-$WANT_VERSION}"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.litellm-install.sha256"

die() { echo "install.sh: $*" >&2; exit 1; }
log() { echo "install.sh: $*" >&2; }

[ -f "$REQ" ] || die "missing $REQ"

# The lock itself must pin exactly the wanted version, never a banned one.
for bad in $BANNED_VERSIONS; do
    if grep -Eq "^litellm==${bad//./\\.}([^0-9.]|$)" "$REQ"; then
        die "refusing: $REQ pins the compromised litellm==$bad"
    fi
done
grep -Eq "^litellm==${WANT_VERSION//./\\.}([^0-9.]|$)" "$REQ" \
    || die "refusing: $REQ does not pin litellm==$WANT_VERSION"

installed_version() {
    # Reads the installed distribution's metadata only; does not import litellm (fast).
    "$VENV/bin/python" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
try:
    print(m.version("litellm"))
except m.PackageNotFoundError:
    pass
PY
}

check_version() {
    local v
    v="$(installed_version)"
    for bad in $BANNED_VERSIONS; do
        if [ "$v" = "$bad" ]; then
            die "refusing: $VENV has the compromised litellm $v installed; delete the venv ($VENV) and rerun"
        fi
    done
    [ "$v" = "$WANT_VERSION" ] \
        || die "refusing: $VENV has litellm '${v:-<none>}', expected $WANT_VERSION"
}

req_sha="$(sha256sum "$REQ" | cut -d' ' -f1)"

# Fast path: already installed from this exact lock.
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$req_sha" ]; then
    check_version
    [ -x "$VENV/bin/litellm" ] || die "$VENV/bin/litellm missing; delete $STAMP and rerun"
    echo "$VENV/bin/litellm"
    exit 0
fi

# Pick the interpreter: the lock was compiled for CPython 3.11.
if [ -n "${LITELLM_PYTHON:-}" ]; then
    PY="$LITELLM_PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then
    PY="python3.11"
else
    PY="python3"
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV with $PY"
    "$PY" -m venv "$VENV"
fi
pyver="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$pyver" = "3.11" ] || log "warning: venv Python is $pyver; requirements.txt was locked for 3.11"

rm -f "$STAMP"
log "upgrading pip"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip

log "installing $REQ (hash-checked; takes a few minutes the first time)"
# --require-hashes: every file must match a sha256 in the lock; --no-deps: the lock is the
# complete tree, nothing outside it may be pulled in; --only-binary: no sdist builds (their
# build dependencies would not be hash-checked).
"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    --require-hashes --no-deps --only-binary :all: -r "$REQ"

"$VENV/bin/python" -m pip check >&2 || die "pip check found broken dependencies in $VENV"
check_version
[ -x "$VENV/bin/litellm" ] || die "$VENV/bin/litellm was not installed"

echo "$req_sha" >"$STAMP"
echo "$VENV/bin/litellm"
