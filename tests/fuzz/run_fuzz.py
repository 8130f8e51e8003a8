# ruff: noqa: S603 - runs this repository's own tools with arguments built here
"""Fuzz the API with schemathesis against its own OpenAPI schema, as four roles, plus an ownership probe.

    .venv/bin/python tests/fuzz/run_fuzz.py            # or: bash scripts/fuzz.sh

What it does, on a fresh database (``FUZZ_DATABASE_URL``; default a new SQLite file under /tmp):
1. migrates and loads the demo (its accounts and orders standing in every stage);
2. starts gunicorn on 127.0.0.1 (a free port, loopback only; the login throttle raised for the run);
3. gets tokens for the four fuzzing roles and their same-role peers (POST /api/v1/auth/token/);
4. runs ``st run`` once per role with every check schemathesis has (all are on by default: server errors,
   response schema / status code / content type / headers conformance, negative and positive data,
   ignored auth, use after free, resource availability, and ``object_level_authorization`` with the
   role's same-role peer listed under ``[auth.wfc] peers``), ``--max-examples`` 50 per operation;
5. the ownership probe (``ownership_probe``): every id the owner can list, read or act on answers the
   same-role peer exactly what a nonexistent id answers (404 for reads) - schemathesis' own check
   only probes the ids its generated requests happened to reach; a nested path (an order's evidence file, a
   stage's submitted file) is probed with the owner's (parent id, id) pairs, and its GET must answer the owner 200;
6. stops the server; exits non-zero on any failure.

Per-operation exceptions live in ``tests/fuzz/schemathesis.toml`` with the reason beside each. ``st`` runs through
``tests/fuzz/st_cli.py``, which keeps CPython bug gh-106905 (3.11.7) out of schemathesis' worker threads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
PASSWORD = "demo-pass-123"  # the demo accounts' password (api-contract.md)  # noqa: S105

# role -> (the fuzzing identity, its same-role peer that must not see the identity's objects)
ROLES = {
    "merchant_admin": ("brand_admin", "other_admin"),
    "store_manager": ("store_manager", "other_manager"),
    "technician": ("tech_li", "tech_wang"),
    "consumer": ("consumer_zhang", "consumer_chen"),
}
MISSING_ID = "987654321"


def log(message: str) -> None:
    print(f"[fuzz] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(method: str, url: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URL built here
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


# ---------------------------------------------------------------------------------------------- setup


def prepare_database(env: dict) -> None:
    manage = [str(VENV_BIN / "python"), "manage.py"]
    if env["DATABASE_URL"].startswith("postgres"):
        # A fresh database per run: state-changing operations are fuzzed, so no run inherits another's.
        subprocess.run([*manage, "shell", "-c", RECREATE_PG], cwd=ROOT, env=env, check=True)
    log("migrating and loading the demo")
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "load_demo"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


RECREATE_PG = """
import psycopg
from django.conf import settings
db = settings.DATABASES["default"]
name = db["NAME"]
conninfo = dict(host=db.get("HOST") or None, port=db.get("PORT") or None, user=db.get("USER") or None,
                password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True)
with psycopg.connect(**{k: v for k, v in conninfo.items() if v is not None}) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
"""


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    sqlite = env["DATABASE_URL"].startswith("sqlite")
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        # SQLite takes one writer at a time: one worker process keeps 'database is locked' out of the results.
        "--workers",
        "1" if sqlite else "2",
        "--timeout",
        "60",
        # Let every generated URL reach Django (gunicorn would answer an over-long one 414 itself).
        "--limit-request-line",
        "0",
        "--access-logfile",
        "-",
    ]
    log(f"starting gunicorn on 127.0.0.1:{port} (log: {log_path})")
    out = log_path.open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited early ({proc.returncode}); see {log_path}")
        try:
            status, _ = request("GET", f"http://127.0.0.1:{port}/api/schema/?format=json")
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise SystemExit("gunicorn did not answer within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def get_tokens(base: str) -> dict[str, str]:
    tokens = {}
    for user in sorted({name for pair in ROLES.values() for name in pair}):
        status, body = request("POST", f"{base}/api/v1/auth/token/", body={"username": user, "password": PASSWORD})
        if status != 200 or not isinstance(body, dict) or "token" not in body:
            raise SystemExit(f"could not get a token for {user}: {status} {body!r}")
        tokens[user] = body["token"]
    return tokens


# ---------------------------------------------------------------------------------------- schemathesis


def write_auth(workdir: Path, tokens: dict[str, str]) -> Path:
    path = workdir / "wfc-auth.json"
    entries = [
        {"name": user, "fixedHeaders": [{"name": "Authorization", "value": f"Token {token}"}]}
        for user, token in tokens.items()
    ]
    path.write_text(json.dumps({"auth": entries}, indent=2))
    return path


def role_config(workdir: Path, role: str, auth_path: Path) -> Path:
    user, peer = ROLES[role]
    base = (Path(__file__).parent / "schemathesis.toml").read_text()
    text = (
        f"{base}\n"
        "[auth.wfc]\n"
        f"path = {json.dumps(str(auth_path))}\n"
        f"user = {json.dumps(user)}\n"
        f"peers = {json.dumps([user, peer])}\n"
    )
    path = workdir / f"schemathesis-{role}.toml"
    path.write_text(text)
    return path


def run_schemathesis(base: str, role: str, config: Path, args, workdir: Path) -> bool:
    cmd = [
        # `st` itself, with CPython 3.11.7's AST bug kept out of schemathesis' worker threads (see st_cli.py).
        str(VENV_BIN / "python"),
        str(Path(__file__).with_name("st_cli.py")),
        "--config-file",
        str(config),
        "run",
        f"{base}/api/schema/?format=json",
        # No --checks: every check is on by default, and an explicit list would override the per-operation
        # exceptions in schemathesis.toml.
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--seed",
        str(args.seed),
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(workdir / f"report-{role}"),
        *(["--phases", args.phases] if args.phases else []),
    ]
    for method in filter(None, args.methods.split(",")):
        cmd += ["--include-method", method]
    log(f"schemathesis as {ROLES[role][0]} ({role}), peer {ROLES[role][1]}")
    started = time.monotonic()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    try:
        result = subprocess.run(cmd, cwd=workdir, env=env, timeout=args.role_timeout, check=False)
    except subprocess.TimeoutExpired:
        log(f"schemathesis as {role} exceeded {args.role_timeout} s")
        return False
    log(f"schemathesis as {role}: exit {result.returncode} in {time.monotonic() - started:.0f} s")
    return result.returncode == 0


# --------------------------------------------------------------------------------------- ownership probe


def _list_ids(base: str, path: str, token: str) -> list[str]:
    ids, url = [], f"{base}{path}?page_size=100"
    for _ in range(50):
        status, body = request("GET", url, token=token)
        if status != 200:
            return ids
        items = body.get("results", []) if isinstance(body, dict) else body if isinstance(body, list) else []
        ids += [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
        url = body.get("next") if isinstance(body, dict) else None
        if not url:
            break
    return ids


def _fill(template: str, values: tuple[str, ...]) -> str:
    """The template with its path parameters replaced by ``values``, in order."""
    rest = iter(values)
    return re.sub(r"{\w+}", lambda _: next(rest), template)


def _parent(collection: str) -> str | None:
    """The collection a nested collection's first parameters come from: /orders/{id}/evidence/ -> /orders/."""
    return collection[: collection.rindex("{")] if "{" in collection else None


class _Reach:
    """What one user can reach, per collection template, as tuples of path parameter values (cached).

    A top-level collection (/api/v1/orders/) gives 1-tuples from the user's list. A nested one
    (/api/v1/orders/{id}/evidence/) gives, for each tuple of its parent collection, that tuple plus each id the
    user's list at the filled path returns: (order id, evidence id) pairs. Stages have no list: their ids come
    from the user's order details, and so do their files ((stage id, file id) pairs from each stage's
    `submission_files`).
    """

    STAGES, STAGE_FILES = "/api/v1/stages/", "/api/v1/stages/{id}/files/"

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token, self._cache = base, token, {}
        self._stages: list[dict] | None = None

    def __call__(self, collection: str) -> list[tuple[str, ...]]:
        if collection not in self._cache:
            self._cache[collection] = self._reach(collection)
        return self._cache[collection]

    def _detail_stages(self) -> list[dict]:
        """The stages of the user's order details (read once)."""
        if self._stages is None:
            self._stages = []
            for (order_id,) in self("/api/v1/orders/"):
                _, detail = request("GET", f"{self.base}/api/v1/orders/{order_id}/", token=self.token)
                self._stages += [s for s in (detail or {}).get("stages", []) if isinstance(s, dict)]
        return self._stages

    def _reach(self, collection: str) -> list[tuple[str, ...]]:
        if collection == self.STAGES:
            return [(str(s["id"]),) for s in self._detail_stages()]
        if collection == self.STAGE_FILES:
            return [(str(s["id"]), str(f["id"])) for s in self._detail_stages()
                    for f in s.get("submission_files") or [] if isinstance(f, dict) and "id" in f]
        parent = _parent(collection)
        if parent is not None:
            return [
                (*prefix, i)
                for prefix in self(parent)
                for i in _list_ids(self.base, _fill(collection, prefix), self.token)
            ]
        return [(i,) for i in _list_ids(self.base, collection, self.token)]


def _owner_must_read(item: dict, method: str) -> bool:
    """A nested GET with no required query or header input: the owner's own ids must answer it 200."""
    params = [*item.get("parameters", []), *item[method].get("parameters", [])]
    return method == "get" and not any(p.get("required") and p.get("in") != "path" for p in params)


def _unlike(base: str, method: str, path: str, token: str, missing: tuple[int, object]) -> tuple[int, object] | None:
    """The answer at ``path``, unless it is exactly ``missing`` (what a nonexistent id gets) and a 403 or 404."""
    status, body = request(method, f"{base}{path}", token=token)
    return None if status in {403, 404} and (status, body) == missing else (status, body)


def ownership_probe(base: str, tokens: dict[str, str]) -> list[str]:
    """Every object the owner can reach answers its same-role peer exactly as a nonexistent id does.

    The operations come from the schema, so a new endpoint is probed without anyone remembering. A path's last
    parameter takes the ids the owner's list at the path's prefix returns and the peer's does not (stages and
    their files, which have no list, come from the order details); any parameters before it come the same way
    from the prefix's own parent collection. So /orders/{id}/evidence/{evidence_id}/file/ is probed with (order,
    evidence) pairs from each owner order's /orders/{id}/evidence/, and /stages/{id}/files/{file_id}/ with
    (stage, file) pairs from the owner's order details; the peer must get what all-nonexistent ids get. For
    such a nested path two more rules: the peer's own parent with the owner's child id answers as a nonexistent
    child does (a child is looked up within its parent), and a GET of the owner's pair answers the owner 200
    (the pair is real, so the peer's 404 means something).
    """
    _, schema = request("GET", f"{base}/api/schema/?format=json")
    operations = []  # (method, template, collection of its last parameter, the owner must read it)
    for template, item in schema["paths"].items():
        if "{" not in template or "/webhooks/" in template or "/notify/" in template:  # providers, no owner
            continue
        collection = template[: template.rindex("{")]
        nested = "{" in collection
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                operations.append((method.upper(), template, collection, nested and _owner_must_read(item, method)))
    failures: list[str] = []
    checked, reached = 0, set()
    for role, (owner, peer) in ROLES.items():
        mine, theirs = _Reach(base, tokens[owner]), _Reach(base, tokens[peer])
        owned: dict[str, list[tuple[str, ...]]] = {}
        for collection in sorted({c for _, _, c, _ in operations}):
            shared = set(theirs(collection))
            owned[collection] = [t for t in mine(collection) if t not in shared]
        for method, template, collection, owner_reads in operations:
            tuples = owned[collection]
            if not tuples:
                continue
            reached.add(f"{method} {template}")
            missing = request(method, f"{base}{_fill(template, (MISSING_ID,) * len(tuples[0]))}", token=tokens[peer])
            parent = _parent(collection)
            # The peer's own parent (an order it may see) with the owner's child id, for a nested path.
            own_parent = next(iter(theirs(parent)), None) if parent else None
            if own_parent is not None:
                missing_child = request(method, f"{base}{_fill(template, (*own_parent, MISSING_ID))}",
                                        token=tokens[peer])
            for value in tuples:
                # An empty body: the peer must be stopped before any input is read, and learn nothing a
                # nonexistent id would not tell it (404, or the same 403 when its role or tier may never call this).
                path = _fill(template, value)
                checked += 1
                if got := _unlike(base, method, path, tokens[peer], missing):
                    failures.append(
                        f"{role}: {peer} {method} {path} (owned by {owner}) -> {got[0]} "
                        f"(a nonexistent id -> {missing[0]}): {str(got[1])[:200]}"
                    )
                if own_parent is not None and own_parent != value[:-1]:
                    path = _fill(template, (*own_parent, value[-1]))
                    checked += 1
                    if got := _unlike(base, method, path, tokens[peer], missing_child):
                        failures.append(
                            f"{role}: {peer} {method} {path} (the child owned by {owner} under {peer}'s parent) -> "
                            f"{got[0]} (a nonexistent child -> {missing_child[0]}): {str(got[1])[:200]}"
                        )
                if owner_reads:
                    path = _fill(template, value)
                    status, body = request(method, f"{base}{path}", token=tokens[owner])
                    checked += 1
                    if status != 200:
                        failures.append(f"{role}: {owner} {method} {path} (its own) -> {status}: {str(body)[:200]}")
        nested = sum(len(v) for c, v in owned.items() if "{" in c)
        log(f"ownership probe {owner} -> {peer}: {sum(len(v) for v in owned.values())} owned ids "
            f"({nested} of them in a collection nested under a parent)")
    unreached = sorted({f"{m} {t}" for m, t, _, _ in operations} - reached)
    if unreached:
        log(f"ownership probe: no role owns an id for {len(unreached)} operations: {', '.join(unreached)}")
    log(f"ownership probe: {checked} requests, {len(failures)} failures")
    return failures


# ------------------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated subset of " + ",".join(ROLES))
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "20240601")))
    parser.add_argument("--phases", default=os.environ.get("FUZZ_PHASES", ""))
    parser.add_argument("--methods", default="", help="only these HTTP methods, e.g. GET")
    parser.add_argument("--role-timeout", type=int, default=int(os.environ.get("FUZZ_ROLE_TIMEOUT", "150")))
    parser.add_argument("--skip-schemathesis", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (reports, server log)")
    args = parser.parse_args()
    roles = [r for r in args.roles.split(",") if r]

    workdir = Path(tempfile.mkdtemp(prefix="stagedservice-fuzz-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": os.environ.get("FUZZ_DATABASE_URL", f"sqlite:///{workdir / 'fuzz.sqlite3'}"),
        "MEDIA_ROOT": str(workdir / "media"),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOGIN_THROTTLE_RATE": "10000/min",
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    started = time.monotonic()
    prepare_database(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(env, port, workdir / "server.log")
    ok = True
    try:
        tokens = get_tokens(base)
        auth_path = write_auth(workdir, tokens)
        failures = ownership_probe(base, tokens)
        for failure in failures:
            log(f"FAIL {failure}")
        ok = not failures
        if not args.skip_schemathesis:
            for role in roles:
                ok = run_schemathesis(base, role, role_config(workdir, role, auth_path), args, workdir) and ok
    finally:
        stop_server(server)
        errors = [line for line in (workdir / "server.log").read_text().splitlines() if "Traceback" in line]
        if errors:
            log(f"server log has {len(errors)} tracebacks: {workdir / 'server.log'}")
    log(f"{'PASSED' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s (work directory {workdir})")
    if ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
