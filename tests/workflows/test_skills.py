"""Skills (issue 21, point 1): a stage may require a skill; slots, booking, moves and staff assignment consider only
active technicians of the store with it; assigning one without it is a 400 naming the skill; skills are read and
set through GET/PUT /api/v1/technicians/{id}/skills/."""

import pytest
from django.core.exceptions import ValidationError

from tenancy.models import Skill, StoreCapacity, User
from tests.factories.tenancy import TechnicianFactory
from tests.factories.workflows import make_order, make_template, stage_of
from workflows import services
from workflows.models import Appointment

pytestmark = pytest.mark.django_db

REPAIR = {
    "name": "Repair visit",
    "stages": [{"code": "repair", "name": "Repair on site", "requires_appointment": True, "appointment_minutes": 60,
                "required_skill": "repair"}],
}


@pytest.fixture
def order(store, consumer, technician, technician2):
    return make_order(store=store, consumer=consumer, definition=REPAIR)


def test_the_template_api_keeps_the_required_skill(admin_client_api, merchant):
    body = {"name": "Skills", "stages": [{"code": "fix", "name": "Fix", "requires_appointment": True,
                                          "required_skill": "repair"}]}
    response = admin_client_api.post("/api/v1/templates/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["draft"]["stages"][0]["required_skill"] == "repair"


def test_without_anyone_skilled_there_is_no_slot_and_no_booking(order, client_for, consumer):
    stage = stage_of(order, "repair")
    assert services.appointment_slots(stage=stage) == []
    anyone = {**REPAIR, "stages": [{**REPAIR["stages"][0], "required_skill": ""}]}  # the same visit, any skill
    window = services.appointment_slots(stage=stage_of(make_order(store=order.store, consumer=consumer,
                                                                  definition=anyone), "repair"))[0].start
    response = client_for(consumer).post(f"/api/v1/orders/{order.pk}/appointments/",
                                         {"stage": stage.pk, "window_start": window.isoformat()}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "slot_taken", response.content


def test_only_the_skilled_technician_is_offered_and_given_the_visit(order, store, technician, technician2):
    repairer = TechnicianFactory(stores=[store], skills=["repair"])
    TechnicianFactory(stores=[store], skills=["repair"], is_active=False)  # inactive: never chosen
    stage = stage_of(order, "repair")
    slots = services.appointment_slots(stage=stage)
    assert slots and {s.free_technicians for s in slots} == {1}
    visit = services.appointment_book(stage=stage, window_start=slots[0].start, actor=order.consumer)
    assert visit.technician_id == repairer.pk  # not technician (lower id, free, but without the skill)
    moved = services.appointment_reschedule(appointment=visit, window_start=slots[3].start, actor=order.consumer)
    assert moved.technician_id == repairer.pk


def test_assigning_a_technician_without_the_skill_is_a_400_naming_it(order, store, technician, client_for,
                                                                     store_manager):
    TechnicianFactory(stores=[store], skills=["repair"])
    stage = stage_of(order, "repair")
    visit = services.appointment_book(stage=stage, window_start=services.appointment_slots(stage=stage)[0].start,
                                      actor=order.consumer)
    response = client_for(store_manager).post(f"/api/v1/appointments/{visit.pk}/assign/",
                                              {"technician": technician.pk}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "missing_skill" and body["skill"] == "repair" and "technician" in body["errors"]
    assert Appointment.objects.get(pk=visit.pk).technician_id != technician.pk
    technician.skills = ["install", "repair"]
    technician.save()
    ok = client_for(store_manager).post(f"/api/v1/appointments/{visit.pk}/assign/", {"technician": technician.pk},
                                        format="json")
    assert ok.status_code == 200, ok.content


def test_a_stage_without_a_required_skill_takes_anyone(store, consumer, technician):
    technician.skills = []
    technician.save()
    order = make_order(store=store, consumer=consumer, template=make_template(merchant=store.merchant, stores=[store]))
    stage = stage_of(order, "measuring")
    assert services.appointment_slots(stage=stage)


# --- GET, PUT /technicians/{id}/skills/ -------------------------------------------------------------
@pytest.mark.parametrize("actor", ["store_manager", "merchant_admin", "operator"])
def test_staff_set_a_technicians_skills(request, client_for, technician, actor):
    api = client_for(request.getfixturevalue(actor))
    response = api.put(f"/api/v1/technicians/{technician.pk}/skills/",
                       {"skills": ["measure", "repair", "measure"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"skills": ["measure", "repair"]}
    assert User.objects.get(pk=technician.pk).skills == ["measure", "repair"]
    assert api.get(f"/api/v1/technicians/{technician.pk}/skills/").json() == {"skills": ["measure", "repair"]}


def test_a_technician_reads_their_own_skills_but_may_not_set_them(client_for, technician):
    api = client_for(technician)
    assert api.get(f"/api/v1/technicians/{technician.pk}/skills/").json() == {"skills": ["measure", "install"]}
    response = api.put(f"/api/v1/technicians/{technician.pk}/skills/", {"skills": ["repair"]}, format="json")
    assert response.status_code == 403
    assert User.objects.get(pk=technician.pk).skills == ["measure", "install"]


@pytest.mark.parametrize("actor", ["other_admin", "other_store_manager", "other_technician", "consumer",
                                   "technician2"])
@pytest.mark.parametrize("method", ["get", "put"])
def test_others_do_not_see_the_technician(request, client_for, technician, actor, method):
    api = client_for(request.getfixturevalue(actor))
    response = getattr(api, method)(f"/api/v1/technicians/{technician.pk}/skills/", {"skills": ["repair"]},
                                    format="json")
    assert response.status_code == 404
    assert User.objects.get(pk=technician.pk).skills == ["measure", "install"]


@pytest.mark.parametrize("skills", [["Not a slug!"], "repair", [1], ["x" * 41], None])
def test_bad_skills_are_a_400(manager_client, technician, skills):
    response = manager_client.put(f"/api/v1/technicians/{technician.pk}/skills/", {"skills": skills}, format="json")
    assert response.status_code == 400 and "skills" in response.json()["errors"]


# --- The brand's list of skills (tenancy.models.Skill) ----------------------------------------------
@pytest.fixture
def brand_skills(merchant):
    for code, name in [("measure", "测量"), ("install", "安装")]:
        Skill.objects.create(merchant=merchant, code=code, name=name)


def test_a_skill_off_the_brands_list_is_a_400_naming_it(brand_skills, manager_client, technician):
    response = manager_client.put(f"/api/v1/technicians/{technician.pk}/skills/",
                                  {"skills": ["install", "welding"]}, format="json")
    assert response.status_code == 400, response.content
    assert "welding" in response.json()["errors"]["skills"][0]
    assert User.objects.get(pk=technician.pk).skills == ["measure", "install"]
    response = manager_client.put(f"/api/v1/technicians/{technician.pk}/skills/", {"skills": ["install"]},
                                  format="json")
    assert response.status_code == 200 and User.objects.get(pk=technician.pk).skills == ["install"]


def test_another_brands_list_does_not_count(brand_skills, other_merchant, technician):
    Skill.objects.create(merchant=other_merchant, code="welding", name="焊接")
    assert Skill.unknown(technician.merchant_id, ["welding", "measure"]) == ["welding"]
    assert Skill.unknown(other_merchant.pk, ["measure"]) == ["measure"]


def test_a_brand_without_a_list_takes_any_skill(merchant):
    assert not Skill.objects.filter(merchant=merchant).exists()
    assert Skill.unknown(merchant.pk, ["anything"]) == []


def test_a_template_requiring_a_skill_off_the_list_is_not_published(brand_skills, admin_client_api, merchant):
    body = {"name": "Skills", "stages": [{"code": "fix", "name": "Fix", "requires_appointment": True,
                                          "required_skill": "repair"}]}
    template = admin_client_api.post("/api/v1/templates/", body, format="json").json()
    response = admin_client_api.post(f"/api/v1/templates/{template['id']}/publish/", format="json")
    assert response.status_code == 400, response.content
    assert any(p["field"] == "required_skill" for p in response.json()["problems"])
    Skill.objects.create(merchant=merchant, code="repair", name="维修")
    response = admin_client_api.post(f"/api/v1/templates/{template['id']}/publish/", format="json")
    assert response.status_code in (200, 201), response.content


def test_a_daily_capacity_and_a_technician_name_skills_of_the_list(brand_skills, store, technician):
    with pytest.raises(ValidationError) as capacity:
        StoreCapacity(store=store, skill="welding", visits_per_day=3).full_clean()
    assert "skill" in capacity.value.message_dict
    technician.skills = ["measure", "welding"]
    with pytest.raises(ValidationError) as person:
        technician.full_clean()
    assert "welding" in person.value.message_dict["skills"][0]
