"""Erasure leaves nothing in the admin's history that names or describes the person (issue 17, item 5)."""

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

from devices.models import Customer, CustomerToken, Platform, push_device_model
from devices.services import customer_erase, customer_token_mint, device_register


def _log(user, obj, message: str) -> LogEntry:
    return LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj),
        action_flag=CHANGE,
        change_message=message,
    )


def test_erasure_scrubs_admin_log_entries_about_the_customer_devices_and_tokens(alice, customer):
    device, _ = device_register(customer=customer, platform=Platform.FCM, token="fcm-token-1")
    token, _ = customer_token_mint(customer=customer)
    push = push_device_model(Platform.FCM).objects.get(pk=device.push_device_id)
    entries = [
        _log(alice, customer, f"Changed attributes of {customer.external_id}."),
        _log(alice, device, f"Changed app_version for {customer.external_id}."),
        _log(alice, token, f"Revoked token of {customer.external_id}."),
        _log(
            alice,
            push,
            f"Changed registration_id of {customer.external_id}.",
        ),
    ]
    other = Customer.objects.create(external_id="someone-else")
    kept = _log(alice, other, "Changed attributes of someone-else.")

    assert customer_erase(external_id="c-100")

    for entry in entries:
        entry.refresh_from_db()
        assert "c-100" not in entry.object_repr and "c-100" not in entry.change_message
        assert entry.change_message == ""
    kept.refresh_from_db()
    assert kept.change_message == "Changed attributes of someone-else."
    assert not CustomerToken.objects.filter(pk=token.pk).exists()
