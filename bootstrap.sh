#!/usr/bin/env bash
# Sets up everything the project needs in .venv/ (idempotent).
#   bash bootstrap.sh        # the tool
#   bash bootstrap.sh test   # the tool, pytest, and the programs the end-to-end tests drive (tmux, chromium, chromedriver)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first, pinned: anything that pulls an unpinned torch would otherwise fetch GBs of CUDA wheels.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
if [ "${1:-}" = "test" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    missing=""
    command -v tmux >/dev/null || missing="$missing tmux"
    command -v chromium >/dev/null || missing="$missing chromium"
    command -v chromedriver >/dev/null || missing="$missing chromium-driver"   # selenium drives the practice page
    if [ -n "$missing" ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
        || echo "bootstrap: could not install$missing; the tests that need them will be skipped" >&2
    fi
  fi
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
  # Embed the bundled rubrics' phrases once, so the first batch starts grading at once.
  HF_HUB_OFFLINE=1 .venv/bin/grader cache warm || echo "bootstrap: could not warm the vector cache (grading still works)" >&2
fi
