"""tests/fuzz/run_fuzz.py's ownership probe on nested paths, against small fake APIs: an order's evidence file is
probed with the owner's (order, evidence) pairs, a stage's submitted file with the owner's (stage, file) pairs from
the order details, and the probe catches the ways such an endpoint goes wrong."""

from urllib.parse import urlsplit

import pytest

from tests.fuzz import run_fuzz

BASE = "http://fake"
ORDERS = {"1": "alice", "2": "bob"}  # order -> the consumer who may see it
EVIDENCE = {"10": "1", "11": "1", "20": "2"}  # evidence -> its order
NOT_FOUND = (404, {"detail": "Not found."})
PATHS = ["/api/v1/orders/", "/api/v1/orders/{id}/", "/api/v1/orders/{id}/evidence/",
         "/api/v1/orders/{id}/evidence/{evidence_id}/file/"]


def fake_api(bug=None):
    def request(method, url, *, token=None, body=None):
        user = {"a": "alice", "b": "bob"}.get(token)
        path = urlsplit(url).path.strip("/").split("/")[3:]  # after api/v1/orders
        if url.startswith(f"{BASE}/api/schema/"):
            return 200, {"paths": {p: {"get": {}} for p in PATHS}}
        if not path:
            return 200, {"results": [{"id": int(o)} for o, who in ORDERS.items() if who == user], "next": None}
        order, rest = path[0], path[1:]
        if ORDERS.get(order) != user and not (bug == "no_visibility" and rest[-1:] == ["file"]):
            return NOT_FOUND
        if not rest:
            return 200, {"id": int(order), "stages": []}
        if rest == ["evidence"]:
            return 200, {"results": [{"id": int(e)} for e, o in EVIDENCE.items() if o == order], "next": None}
        evidence = rest[1]
        if bug == "file_never_served":
            return NOT_FOUND
        if EVIDENCE.get(evidence) == order or (evidence in EVIDENCE and bug == "child_without_parent"):
            return 200, b"\x89PNG..."
        return NOT_FOUND

    return request


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.setattr(run_fuzz, "ROLES", {"consumer": ("alice", "bob")})

    def run(bug=None, api=fake_api):
        monkeypatch.setattr(run_fuzz, "request", api(bug))
        return run_fuzz.ownership_probe(BASE, {"alice": "a", "bob": "b"})

    return run


def test_the_owners_evidence_pairs_are_probed_and_a_correct_api_passes(probe, capsys):
    assert probe() == []
    out = capsys.readouterr().out
    # order 1, and (1, 10), (1, 11); the file: bob on alice's pairs, bob's order with alice's ids, alice on hers
    assert "alice -> bob: 3 owned ids (2 of them in a collection nested under a parent)" in out
    assert "ownership probe: 8 requests, 0 failures" in out


def test_a_file_served_without_checking_the_order_is_caught(probe):
    failures = probe("no_visibility")
    assert len(failures) == 2
    assert all("bob GET /api/v1/orders/1/evidence/1" in f and "owned by alice" in f for f in failures)


def test_evidence_looked_up_without_its_order_is_caught_through_the_peers_own_order(probe):
    failures = probe("child_without_parent")
    assert sorted(f.split(" (")[0] for f in failures) == [
        "consumer: bob GET /api/v1/orders/2/evidence/10/file/",
        "consumer: bob GET /api/v1/orders/2/evidence/11/file/",
    ]


def test_a_pair_the_owner_cannot_read_either_fails_instead_of_passing_vacuously(probe):
    failures = probe("file_never_served")
    assert sorted(f.split(" -> ")[0] for f in failures) == [
        "consumer: alice GET /api/v1/orders/1/evidence/10/file/ (its own)",
        "consumer: alice GET /api/v1/orders/1/evidence/11/file/ (its own)",
    ]


# A stage's submitted files: stages have no list, and neither do their files; both come from the order details.
STAGES = {"5": "1", "6": "2"}  # stage -> its order
STAGE_FILES = {"50": "5", "51": "5", "60": "6"}  # file -> its stage
STAGE_PATHS = ["/api/v1/orders/", "/api/v1/orders/{id}/", "/api/v1/stages/{id}/",
               "/api/v1/stages/{id}/files/{file_id}/"]


def fake_stage_api(bug=None):
    def request(method, url, *, token=None, body=None):
        user = {"a": "alice", "b": "bob"}.get(token)
        if url.startswith(f"{BASE}/api/schema/"):
            return 200, {"paths": {p: {"get": {}} for p in STAGE_PATHS}}
        kind, *path = urlsplit(url).path.strip("/").split("/")[2:]  # after api/v1
        if kind == "orders" and not path:
            return 200, {"results": [{"id": int(o)} for o, who in ORDERS.items() if who == user], "next": None}
        if kind == "orders":
            if ORDERS.get(path[0]) != user:
                return NOT_FOUND
            stages = [{"id": int(s), "submission_files": [{"id": int(f)} for f, fs in STAGE_FILES.items() if fs == s]}
                      for s, o in STAGES.items() if o == path[0]]
            return 200, {"id": int(path[0]), "stages": stages}
        stage, rest = path[0], path[1:]
        if ORDERS.get(STAGES.get(stage)) != user and bug != "no_visibility":
            return NOT_FOUND
        if not rest:
            return 200, {"id": int(stage)}
        if STAGE_FILES.get(rest[1]) == stage or (rest[1] in STAGE_FILES and bug == "child_without_parent"):
            return 200, b"%PDF-1.4 ..."
        return NOT_FOUND

    return request


def test_a_stages_files_are_probed_with_the_owners_pairs_from_the_order_details(probe, capsys):
    assert probe(api=fake_stage_api) == []
    out = capsys.readouterr().out
    # order 1, stage 5, and the files (5, 50), (5, 51)
    assert "alice -> bob: 4 owned ids (2 of them in a collection nested under a parent)" in out
    assert "no role owns an id" not in out


def test_a_stage_file_served_to_anyone_is_caught(probe):
    failures = probe("no_visibility", api=fake_stage_api)
    assert sorted(f.split(" (")[0] for f in failures) == [
        "consumer: bob GET /api/v1/stages/5/",
        "consumer: bob GET /api/v1/stages/5/files/50/",
        "consumer: bob GET /api/v1/stages/5/files/51/",
    ]


def test_a_file_looked_up_without_its_stage_is_caught_through_the_peers_own_stage(probe):
    failures = probe("child_without_parent", api=fake_stage_api)
    assert sorted(f.split(" (")[0] for f in failures) == [
        "consumer: bob GET /api/v1/stages/6/files/50/",
        "consumer: bob GET /api/v1/stages/6/files/51/",
    ]
