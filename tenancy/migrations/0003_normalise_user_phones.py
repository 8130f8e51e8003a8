"""Store every user's phone in E.164, as tenancy/phones.py does from now on.

Before, a consumer created from an order kept the phone as typed ("13800000001"), so the same number
could be stored twice in two spellings (two accounts). This rewrites each stored phone to its E.164
form, read in settings.DEFAULT_PHONE_REGION when it has no country code. It is safe to run again (a
number already in E.164 is left as it is) and changes nothing it cannot change safely:

- a blank phone ("") becomes NULL (no phone), as the admin now stores it;
- a number the library does not recognise as valid is left as it is (logged): a person must fix it;
- a number whose E.164 form another account already holds is left as it is (logged with both ids):
  those are duplicate accounts of one person, which only a person may merge.

Nothing is undone on reverse (the old spellings are not kept, and E.164 is valid input everywhere).
"""

import logging

import phonenumbers
from django.conf import settings
from django.db import migrations

log = logging.getLogger("tenancy.migrations")


def _e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phones(apps, schema_editor):
    User = apps.get_model("tenancy", "User")
    region = getattr(settings, "DEFAULT_PHONE_REGION", "CN")
    User.objects.filter(phone="").update(phone=None)
    rows = list(User.objects.exclude(phone=None).order_by("pk").values_list("pk", "phone"))
    for pk, phone in rows:
        normalised = _e164(phone, region)
        if normalised is None:
            log.warning("user %s: phone ending %s is not a valid number; left as it is", pk, phone[-4:])
            continue
        if normalised == phone:
            continue
        holder = User.objects.filter(phone=normalised).exclude(pk=pk).values_list("pk", flat=True).first()
        if holder is not None:
            log.warning("user %s: phone ending %s is user %s's number; left as it is (duplicate accounts)",
                        pk, phone[-4:], holder)
            continue
        User.objects.filter(pk=pk, phone=phone).update(phone=normalised)


class Migration(migrations.Migration):

    dependencies = [
        ("tenancy", "0002_merchant_has_active_webhooks"),
    ]

    operations = [
        migrations.RunPython(normalise_phones, migrations.RunPython.noop, elidable=True),
    ]
