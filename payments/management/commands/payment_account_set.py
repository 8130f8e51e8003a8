"""Create or replace a brand's account at Alipay or WeChat Pay from files (automation), and print its id: the
`{account_id}` of the notification URL to register at the provider.

    manage.py payment_account_set --merchant ID --provider alipay --app-id APPID \\
        --app-private-key-file PEM --provider-public-key-file PEM
    manage.py payment_account_set --merchant ID --provider wechatpay --mchid MCHID --appid APPID --serial-no SERIAL \\
        --private-key-file PEM --apiv3-key KEY --platform-public-key-file PEM --platform-public-key-id ID

`--apiv3-key-file` may stand for `--apiv3-key` (a key on the command line shows in the process list and the
shell's history). Replacing keeps the id and puts the account live again.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from payments.services import payment_account_set
from tenancy.models import Merchant


def _read(path: str | None, flag: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{flag}: cannot read {path}: {exc}") from None


class Command(BaseCommand):
    help = "Create or replace a brand's Alipay or WeChat Pay account from key files; prints the account id."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", type=int, required=True, help="The brand (merchant) id.")
        parser.add_argument("--provider", choices=["alipay", "wechatpay"], required=True)
        alipay = parser.add_argument_group("alipay")
        alipay.add_argument("--app-id", help="The Alipay app's APPID.")
        alipay.add_argument("--app-private-key-file", help="The app private key (PEM, or Alipay's bare base64).")
        alipay.add_argument("--provider-public-key-file", help="The Alipay public key of the app.")
        wechat = parser.add_argument_group("wechatpay")
        wechat.add_argument("--mchid", help="The WeChat Pay merchant number.")
        wechat.add_argument("--appid", help="The AppID (official account or mini program) bound to the mchid.")
        wechat.add_argument("--serial-no", help="The merchant API certificate's serial number.")
        wechat.add_argument("--private-key-file", help="The merchant API private key (apiclient_key.pem).")
        wechat.add_argument("--apiv3-key", help="The APIv3 key (32 characters).")
        wechat.add_argument("--apiv3-key-file", help="A file holding the APIv3 key, instead of --apiv3-key.")
        wechat.add_argument("--platform-public-key-file", help="The WeChat Pay platform public key (pub_key.pem).")
        wechat.add_argument("--platform-public-key-id", help="The platform public key's id (PUB_KEY_ID_...).")

    def handle(self, *args, **opts):
        merchant = Merchant.objects.filter(pk=opts["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant {opts['merchant']}.")
        if opts["provider"] == "alipay":
            fields = {"app_id": opts["app_id"],
                      "private_key": _read(opts["app_private_key_file"], "--app-private-key-file"),
                      "provider_public_key": _read(opts["provider_public_key_file"], "--provider-public-key-file")}
            flags = {"app_id": "--app-id", "private_key": "--app-private-key-file",
                     "provider_public_key": "--provider-public-key-file"}
        else:
            apiv3 = opts["apiv3_key"]
            if opts["apiv3_key_file"]:
                apiv3 = (_read(opts["apiv3_key_file"], "--apiv3-key-file") or "").strip()
            fields = {"mch_id": opts["mchid"], "app_id": opts["appid"], "merchant_serial_no": opts["serial_no"],
                      "private_key": _read(opts["private_key_file"], "--private-key-file"), "apiv3_key": apiv3,
                      "provider_public_key": _read(opts["platform_public_key_file"], "--platform-public-key-file"),
                      "provider_public_key_id": opts["platform_public_key_id"]}
            flags = {"mch_id": "--mchid", "app_id": "--appid", "merchant_serial_no": "--serial-no",
                     "private_key": "--private-key-file", "apiv3_key": "--apiv3-key",
                     "provider_public_key": "--platform-public-key-file",
                     "provider_public_key_id": "--platform-public-key-id"}
        try:
            account, created = payment_account_set(merchant=merchant, provider=opts["provider"], active=True,
                                                   **fields)
        except DomainError as exc:
            problems = [f"{flags.get(field, field)}: {' '.join(map(str, messages))}"
                        for field, messages in exc.extra.get("errors", {}).items()]
            raise CommandError("\n".join([exc.detail, *problems])) from None
        self.stderr.write(f"{'created' if created else 'replaced'} {account.get_provider_display()} account "
                          f"{account.pk} of {merchant}; notifications: {account.notify_url()}")
        self.stdout.write(str(account.pk))
