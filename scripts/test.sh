#!/usr/bin/env bash
# The test command: set up (virtualenv, dependencies) and run the whole suite.
# With nothing set it runs on SQLite with Celery eager; set DATABASE_URL to run on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/pytest "$@"
