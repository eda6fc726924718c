#!/usr/bin/env bash
# Creates the Python venv the real-client tests use (target/py-venv, or $SKYNET_PY_VENV),
# with the `websockets` package. Tests that need it skip with a message when it is absent.
#   examples/scripts/py-venv.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${SKYNET_PY_VENV:-target/py-venv}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import websockets' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'websockets==17.4'
"$venv/bin/python" -c 'import websockets; print("websockets", websockets.__version__, "in", "'"$venv"'")'
