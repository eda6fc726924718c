#!/usr/bin/env bash
# Installs the real clients the web tests use: the Python venv with `websockets`
# (py-venv.sh) and, where apt-get can, Debian's chromium for the headless page test.
# Whatever cannot be installed is reported; its test then skips with a message.
#   examples/scripts/web-clients.sh
cd "$(dirname "$0")/../.."
bash examples/scripts/py-venv.sh || echo "web-clients: no Python venv; the websockets test will skip"
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
            || echo "web-clients: chromium could not be installed; the browser test will skip"
    else
        echo "web-clients: no chromium; the browser test will skip"
    fi
fi
exit 0
