#!/usr/bin/env bash
# Fuzz the API with schemathesis against its own OpenAPI schema, as a merchant admin, a store manager,
# a technician and a consumer (50 examples per operation, every check), plus the same-role ownership
# probe. Fresh database per run: FUZZ_DATABASE_URL (default: a new SQLite file under /tmp).
# Options go to tests/fuzz/run_fuzz.py (--roles, --max-examples, --keep, ...). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python tests/fuzz/run_fuzz.py "$@"
