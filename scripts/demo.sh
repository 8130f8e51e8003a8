#!/usr/bin/env bash
# The demo command: set up, migrate, load the demo data and run the server on http://127.0.0.1:8000/.
# Embedded mode by default: SQLite (db.sqlite3) and Celery in eager mode; nothing else to install.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py load_demo
PORT="${PORT:-8000}"
cat <<MSG

  The service is starting on http://127.0.0.1:${PORT}/
    API docs (Swagger UI)  http://127.0.0.1:${PORT}/api/docs/
    OpenAPI schema         http://127.0.0.1:${PORT}/api/schema/
    Django admin           http://127.0.0.1:${PORT}/admin/
  Logins (password demo-pass-123):
    brand_admin (merchant admin)  store_manager  tech_li  tech_wang  consumer_zhang  consumer_chen
    ops (platform operator)       other_admin  tech_zhao  consumer_wu (second brand)
  Tracking links of the demo orders are printed above by load_demo. Stop with Ctrl-C.

MSG
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT}"
