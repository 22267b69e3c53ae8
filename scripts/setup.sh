#!/usr/bin/env bash
# Set up .venv with the CPU build of torch and this project. With --test, also the
# test tools and Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
# The CPU build first: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/pip install -q torch==2.13.0
if [[ "${1:-}" == "--test" ]]; then
    .venv/bin/pip install -q -e ".[test]"
    if ! command -v chromium >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "warning: could not install chromium; browser tests will be skipped" >&2
    fi
else
    .venv/bin/pip install -q -e .
fi
.venv/bin/pip check  # every installed package has what it declares
