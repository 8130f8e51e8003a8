#!/usr/bin/env bash
# CI's smoke run of the load test (bench/load/run.py --smoke): 300 requests in the issue's mix against gunicorn,
# PostgreSQL, Redis and a Celery worker per queue on loopback. It fails on any error (a request answered otherwise
# than expected, Locust failing, or an effect missing after the workers emptied the queues), never on timing; the
# timeout below only stops a hung run (the smoke takes 1-3 minutes on two shared cores).
# Its own database and Redis databases (the runner drops and re-creates the database, empties the service's queues
# in the broker's database and the whole cache database):
#   LOAD_DATABASE_URL       default postgres://postgres@127.0.0.1:5432/bench_load_smoke (name: bench* or <x>_bench*)
#   LOAD_CELERY_BROKER_URL  default redis://127.0.0.1:6379/11
#   LOAD_CACHE_URL          default redis://127.0.0.1:6379/12
# Figures and Locust's files go to LOAD_OUT (default artifacts/load-smoke). Extra arguments go to the runner.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL="${LOAD_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bench_load_smoke}"
export LOAD_CELERY_BROKER_URL="${LOAD_CELERY_BROKER_URL:-redis://127.0.0.1:6379/11}"
export LOAD_CACHE_URL="${LOAD_CACHE_URL:-redis://127.0.0.1:6379/12}"
export PYTHONUNBUFFERED=1
exec timeout --kill-after=30 "${LOAD_SMOKE_TIMEOUT:-900}" \
  .venv/bin/python bench/load/run.py --smoke --out "${LOAD_OUT:-artifacts/load-smoke}" "$@"
