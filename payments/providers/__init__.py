"""Provider registry: settings.PAYMENT_PROVIDER names the one new payments are started with;
webhooks are accepted for every registered provider (payments started before a switch still settle)."""

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import NotFound
from payments.providers.base import PaymentProvider
from payments.providers.sandbox import SandboxProvider

PROVIDERS: dict[str, type[PaymentProvider]] = {
    SandboxProvider.name: SandboxProvider,
}


def get_provider(name: str | None = None) -> PaymentProvider:
    name = name or settings.PAYMENT_PROVIDER
    cls = PROVIDERS.get(name)
    if cls is None:
        raise NotFound(_("No payment provider '%(name)s'.") % {"name": name[:40]})
    return cls()


def default_provider() -> PaymentProvider:
    return get_provider(settings.PAYMENT_PROVIDER)
