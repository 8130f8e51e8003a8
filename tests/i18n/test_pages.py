"""The screens people use answer in Simplified Chinese by default and in English when asked (the browser's
Accept-Language, or the person's own setting), with CLDR amounts and dates."""

import pytest

from notifications import services
from tests.factories.workflows import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(store, consumer, store_manager):
    """The reference wardrobe order (12,000.00 CNY), waiting for its 10% booking deposit."""
    return make_order(store=store, consumer=consumer, actor=store_manager)


def test_the_tracking_page_is_chinese_by_default(client, order):
    html = client.get(services.tracking_url(order)).content.decode()

    assert '<html lang="zh-hans">' in html
    assert f"服务订单 {order.number}" in html and "订单进度" in html and "您需要做的" in html
    assert "请在下方支付 ¥1,200.00 以继续。" in html  # CLDR's Chinese yuan, the consumer's next step
    assert 'data-testid="outstanding-total">¥12,000.00<' in html
    assert "已完成 0 / 5 个服务阶段" in html and ">支付 ¥1,200.00<" in html


def test_the_tracking_page_follows_the_browsers_language(client, order):
    html = client.get(services.tracking_url(order), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.8").content.decode()

    assert '<html lang="en">' in html
    assert "Where your order stands" in html and "Pay CN¥1,200.00 below to continue." in html


def test_an_invalid_tracking_link_is_told_in_chinese(client):
    response = client.get("/track/not-a-token/")
    assert response.status_code == 404 and "此订单跟踪链接无效" in response.content.decode()


def test_the_sandbox_checkout_is_chinese_by_default(client_for, client, order, consumer):
    from tests.payments.helpers import inst_of

    started = client_for(consumer).post(f"/api/v1/installments/{inst_of(order, 'booking').pk}/pay/").json()
    html = client.get(started["action"]["url"]).content.decode()

    assert "沙箱环境：不会发生真实资金往来" in html and "支付 ¥1,200.00" in html and "模拟支付失败" in html


def test_the_admin_login_and_the_dashboard_answer_in_chinese_by_default(client, operator):
    login = client.get("/admin/login/").content.decode()
    assert "服务履约管理后台" in login and "Django" not in login

    client.force_login(operator)
    index = client.get("/admin/").content.decode()
    assert "服务流程与服务订单" in index and "服务订单" in index and "分阶段付款" in index
    dashboard = client.get("/admin/insights/dashboard/").content.decode()
    assert "每日准时到达率" in dashboard and "即将超时" in dashboard


def test_the_admin_follows_the_staff_members_own_language(client, operator):
    operator.language = "en"
    operator.save(update_fields=["language"])
    client.force_login(operator)

    index = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()

    assert "Workflows and service orders" in index and "Service fulfilment admin" in index


def test_a_model_and_its_fields_are_named_in_chinese_in_the_admin(client, operator, order):
    client.force_login(operator)
    html = client.get("/admin/workflows/serviceorder/").content.decode()
    assert "总金额" in html and "模板版本" in html  # derived field names (core.model_names), no migration
