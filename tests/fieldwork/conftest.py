import pytest

from tests.factories.fieldwork import book_visit, make_field_order, make_field_template, starting_soon


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def field_template(merchant, store):
    return make_field_template(merchant=merchant, stores=[store])


@pytest.fixture
def field_order(store, consumer, field_template):
    return make_field_order(store=store, consumer=consumer, template=field_template)


@pytest.fixture
def visit(field_order, consumer, technician, store_manager):
    """The measuring visit, booked by the consumer and assigned to `technician` by the manager, starting in half
    an hour (the technician may check in)."""
    return starting_soon(book_visit(order=field_order, code="measuring", consumer=consumer, technician=technician,
                                    manager=store_manager))


@pytest.fixture
def tech(client_for, technician):
    return client_for(technician)
