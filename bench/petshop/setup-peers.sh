#!/usr/bin/env bash
# Creates (or completes) the Python venv in which bench/petshop/peers.py runs the published RCA methods
# (PyPI: rcaeval for BARO, sfr-pyrca for epsilon-diagnosis, random walk and RCD), from PyPI.
#
#   bash bench/petshop/setup-peers.sh          # venv at bench/petshop/.cache/venv (not committed)
#   PETSHOP_VENV=DIR PYTHON=python3.11 bash bench/petshop/setup-peers.sh
# bench/petshop.ts runs it by itself when the venv is missing.
#
# Python 3.11: sfr-pyrca needs scikit-learn < 1.2, whose last release has wheels up to 3.11.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${PETSHOP_VENV:-$here/.cache/venv}
python=${PYTHON:-python3.11}
if ! command -v "$python" >/dev/null; then
  echo "setup-peers: $python not found (set PYTHON to a Python 3.11 interpreter)" >&2
  exit 2
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-peers.txt"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps sfr-pyrca==1.0.1 rcaeval==1.8.1
"$venv/bin/python" "$here/peers.py" --check
echo "setup-peers: ready: $venv"
