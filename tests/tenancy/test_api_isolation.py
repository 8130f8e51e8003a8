"""/api/v1/stores/ and /api/v1/technicians/: each caller sees its own tenant only; others are 404."""

import pytest


@pytest.fixture
def world(
    merchant, store, store2, merchant_admin, store_manager, technician, technician2, consumer,
    operator, other_merchant, other_store, other_admin, other_store_manager, other_technician, other_consumer,
):
    return {name: value for name, value in locals().items()}


def listed(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"])
    return sorted(row["name"] if "code" in row else row["username"] for row in body["results"])


@pytest.mark.parametrize(
    "role, expected",
    [
        ("merchant_admin", ["Lumen Jing'an", "Lumen Pudong"]),
        ("store_manager", ["Lumen Jing'an"]),
        ("technician", ["Lumen Jing'an"]),
        ("consumer", []),
        ("operator", ["Harbor West Lake", "Lumen Jing'an", "Lumen Pudong"]),
        ("other_admin", ["Harbor West Lake"]),
        ("other_technician", ["Harbor West Lake"]),
    ],
)
def test_store_list_per_role(world, client_for, role, expected):
    assert listed(client_for(world[role]), "/api/v1/stores/") == expected


@pytest.mark.parametrize(
    "role, expected",
    [
        ("merchant_admin", ["a_tech", "a_tech2"]),
        ("store_manager", ["a_tech", "a_tech2"]),
        ("technician", ["a_tech"]),
        ("consumer", []),
        ("operator", ["a_tech", "a_tech2", "b_tech"]),
        ("other_admin", ["b_tech"]),
        ("other_store_manager", ["b_tech"]),
    ],
)
def test_technician_list_per_role(world, client_for, role, expected):
    assert listed(client_for(world[role]), "/api/v1/technicians/") == expected


def test_technician_list_shows_contract_fields(world, admin_client_api):
    rows = admin_client_api.get("/api/v1/technicians/").json()["results"]
    row = next(r for r in rows if r["username"] == "a_tech")
    assert {"id", "username", "name", "stores", "skills"} <= set(row)
    assert row["stores"] == [world["store"].pk]


def test_store_manager_does_not_list_technicians_of_a_sibling_store(world, manager_client):
    from tests.factories import TechnicianFactory

    TechnicianFactory(username="a_pudong_tech", stores=[world["store2"]])
    assert "a_pudong_tech" not in listed(manager_client, "/api/v1/technicians/")


def test_technicians_filter_by_store(world, admin_client_api):
    from tests.factories import TechnicianFactory

    TechnicianFactory(username="a_pudong_tech", stores=[world["store2"]])
    assert listed(admin_client_api, f"/api/v1/technicians/?stores={world['store2'].pk}") == ["a_pudong_tech"]


@pytest.mark.parametrize(
    "role, target, status",
    [
        ("merchant_admin", "store", 200),
        ("merchant_admin", "store2", 200),
        ("merchant_admin", "other_store", 404),
        ("store_manager", "store", 200),
        ("store_manager", "store2", 404),
        ("store_manager", "other_store", 404),
        ("technician", "other_store", 404),
        ("consumer", "store", 404),
        ("other_admin", "store", 404),
        ("operator", "other_store", 200),
    ],
)
def test_store_detail(world, client_for, role, target, status):
    response = client_for(world[role]).get(f"/api/v1/stores/{world[target].pk}/")
    assert response.status_code == status
    if status == 404:
        body = response.json()
        assert body["code"] == "not_found"
        assert world[target].name not in response.content.decode()
    else:
        assert response.json()["name"] == world[target].name


@pytest.mark.parametrize(
    "role, target, status",
    [
        ("merchant_admin", "technician", 200),
        ("merchant_admin", "other_technician", 404),
        ("other_admin", "technician", 404),
        ("technician", "technician2", 404),
        ("consumer", "technician", 404),
    ],
)
def test_technician_detail(world, client_for, role, target, status):
    response = client_for(world[role]).get(f"/api/v1/technicians/{world[target].pk}/")
    assert response.status_code == status


def test_a_store_that_does_not_exist_is_also_404(world, admin_client_api):
    assert admin_client_api.get("/api/v1/stores/999999/").status_code == 404


@pytest.mark.parametrize("url", ["/api/v1/stores/", "/api/v1/technicians/", "/api/v1/stores/1/"])
def test_anonymous_is_401(anon_client, db, url):
    response = anon_client.get(url)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.has_header("WWW-Authenticate")


def test_stores_are_read_only(world, admin_client_api):
    response = admin_client_api.post("/api/v1/stores/", {"name": "x"}, format="json")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_store_list_is_paginated(world, admin_client_api):
    from tests.factories import StoreFactory

    StoreFactory.create_batch(3, merchant=world["merchant"])
    body = admin_client_api.get("/api/v1/stores/?page_size=2").json()
    assert body["count"] == 5 and len(body["results"]) == 2 and body["next"]
    body = admin_client_api.get("/api/v1/stores/?page_size=1000").json()
    assert len(body["results"]) == 5
