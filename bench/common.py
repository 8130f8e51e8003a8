"""What both benchmarks share."""

import re
import sys
from urllib.parse import urlsplit


def recreate_database(url: str) -> None:
    """Drop and create the benchmark's database; only one whose name starts with "bench" (or "<prefix>_bench", as a
    worktree's or a CI job's own names do: wt_bench_load)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    if not re.match(r"^([a-z0-9]+_)?bench", name):
        sys.exit(f"refusing to recreate database {name!r}: its name must start with 'bench' or '<prefix>_bench'")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
