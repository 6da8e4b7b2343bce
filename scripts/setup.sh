#!/usr/bin/env bash
# Set up a fresh machine: system packages (swig to build pyrfr for fanova; Fashion-MNIST;
# chromium, headless, for the report page's rendering test),
# a Python 3.11 virtual environment in .venv with the pinned packages, the suite itself.
# Optional extras as arguments: `setup.sh torch` also installs requirements-torch.txt.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(swig dataset-fashion-mnist chromium)
if command -v apt-get >/dev/null 2>&1; then
    missing=()
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        echo "setup: installing ${missing[*]} with apt-get"
        # Another apt-get (an unattended upgrade, a second setup) may hold its locks: wait for it.
        wait_lock=(-o DPkg::Lock::Timeout=600)
        for attempt in 1 2 3 4 5 6; do
            $SUDO apt-get "${wait_lock[@]}" update -qq && break
            [ "$attempt" -eq 6 ] && exit 1
            echo "setup: apt-get update failed (another apt-get running?); trying again in 20 s" >&2; sleep 20
        done
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${wait_lock[@]}" install -y -qq "${missing[@]}" >/dev/null
    fi
else
    command -v swig >/dev/null 2>&1 || echo "setup: warning: no apt-get and no swig; install swig to build pyrfr" >&2
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
    echo "setup: error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

stamp=.venv/.setup-stamp
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    echo "setup: installing pinned packages into .venv (a few minutes the first time)"
    .venv/bin/python -m pip install -q -r requirements.txt
    .venv/bin/python -m pip install -q --no-deps -e .
    echo "$want" > "$stamp"
    echo "setup: done"
fi

for extra in "$@"; do
    file=requirements-$extra.txt
    [ -f "$file" ] || { echo "setup: error: no $file for extra '$extra'" >&2; exit 1; }
    extra_stamp=.venv/.setup-$extra
    want=$(sha256sum "$file" | cut -d' ' -f1)
    if ! [ -f "$extra_stamp" ] || [ "$(cat "$extra_stamp")" != "$want" ]; then
        echo "setup: installing the optional $extra packages ($file)"
        .venv/bin/python -m pip install -q -r "$file"
        echo "$want" > "$extra_stamp"
    fi
done
