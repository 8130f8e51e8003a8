"""tests/fuzz/run_fuzz.py's ownership probe on nested paths, against a small fake API: an order's evidence file is
probed with the owner's (order, evidence) pairs, and the probe catches the ways such an endpoint goes wrong."""

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

    def run(bug=None):
        monkeypatch.setattr(run_fuzz, "request", fake_api(bug))
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
