"""What both benchmarks share."""

import sys
from urllib.parse import urlsplit


def recreate_database(url: str) -> None:
    """Drop and create the benchmark's database; only a database whose name starts with "bench"."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("bench"):
        sys.exit(f"refusing to recreate database {name!r}: its name must start with 'bench'")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
