#!/usr/bin/env bash
# Create .venv (if missing) and install the project's dependencies with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# (sed drops pip's notes about unreachable local mirrors some machines configure; it never hides an error)
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | sed '/^WARNING: Location/d'
.venv/bin/python -m pip install --quiet ".[test]" 2>&1 | sed '/^WARNING: Location/d'
# The translation catalogues, compiled with Babel (no GNU gettext needed): the UI is in Chinese from the first start.
.venv/bin/python manage.py translations compile
