"""The Marketers group: manages segments, policies, types and campaigns; reads customers,
their profiles, notifications and results; never touches API keys, devices or raw events."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MANAGE = [
    ("recommender", "segment"),
    ("campaigns", "segmentpolicy"),
    ("campaigns", "notificationtype"),
    ("campaigns", "campaign"),
]
VIEW = [
    ("devices", "customer"),
    ("recommender", "customerprofile"),
    ("recommender", "item"),
    ("recommender", "category"),
    ("recommender", "modelversion"),
    ("campaigns", "notification"),
    ("campaigns", "delivery"),
    ("campaigns", "feedback"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Marketers")
    wanted = []
    for app_label, model in MANAGE:
        for action in ("view", "add", "change", "delete"):
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=f"{action}_{model}"))
    for app_label, model in VIEW:
        wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=f"view_{model}"))
    group.permissions.set(wanted)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Marketers").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_seed_types_and_policies"),
        ("devices", "0001_initial"),
        ("recommender", "0002_seed_segments"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_group, remove_group)]
