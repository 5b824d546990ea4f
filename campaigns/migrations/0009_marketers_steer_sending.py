"""Marketers steer sending (issue 17): they may pause and resume it with the kill switch and send a
test push to a device, so they also read the device list (tokens stay read-only; the raw
django-push-notifications device tables stay hidden)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = [
    ("campaigns", "view_sendingswitch"),
    ("campaigns", "change_sendingswitch"),
    ("devices", "view_device"),
]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Marketers")
    for app_label, codename in GRANTS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Marketers").first()
    if group is not None:
        for app_label, codename in GRANTS:
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_template_checks_and_reason"),
        ("devices", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
