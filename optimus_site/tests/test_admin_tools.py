"""optimus_site.admin_tools.extend_admin: how a downstream app adds to another app's model admin."""

import pytest
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured

from devices.admin import CustomerAdmin, DeviceAdmin
from optimus_site.admin_tools import extend_admin
from recommender.admin import CustomerProfileAdmin, CustomerProfileInline, SegmentAdmin


def fresh_admin():
    class Owner(admin.ModelAdmin):
        list_display = ("a", "b")
        fields = ("a", "b")
        fieldsets = (("first", {"fields": ("a",)}), ("last", {"fields": ("b",)}))
        csv_columns = {"a": "a"}

    return Owner


def test_additions_go_where_they_are_asked_for():
    class Extra:
        @admin.display(description="c")
        def c(self, obj) -> str:
            return "c"

    owner = fresh_admin()
    extend_admin(
        owner,
        methods=Extra,
        list_display={"c": "a"},
        fields={"c": "a"},
        fieldsets=(("middle", {"fields": ("c",)}),),
        list_select_related=("x",),
        readonly_fields=("c",),
        csv_columns={"x__c": "c"},
        actions=("go",),
    )
    assert owner.list_display == ("a", "c", "b") and owner.fields == ("a", "c", "b")
    assert [name for name, _ in owner.fieldsets] == ["first", "middle", "last"]
    assert owner.list_select_related == ("x",) and owner.readonly_fields == ("c",)
    assert owner.csv_columns == {"a": "a", "x__c": "c"} and owner.actions == ("go",)
    assert owner.c(None, None) == "c"


def test_an_extension_never_replaces_what_the_owner_has():
    class Clash:
        def list_display(self):  # pragma: no cover (never attached)
            return ()

    with pytest.raises(ImproperlyConfigured, match="adds, never replaces"):
        extend_admin(fresh_admin(), methods=Clash)


def test_the_registered_admins_carry_what_downstream_apps_added():
    """The pages as they were when recommender and campaigns subclassed and re-registered them."""
    assert CustomerAdmin.list_display == ("external_id", "segment", "receiving", "timezone", "locale", "created_at")
    assert [name for name, _ in CustomerAdmin.fieldsets] == [
        None,
        "Notification preferences",
        "Devices",
        "What Optimus decides for them, and why",
        "Recent notifications",
        "Data from your backend",
    ]
    assert CustomerAdmin.inlines == (CustomerProfileInline,) and "profile__segment" in CustomerAdmin.list_filter
    assert list(CustomerAdmin.csv_columns.values())[-1] == "segment"
    assert CustomerProfileAdmin.fields[:3] == ("customer", "decision", "model_version")
    assert SegmentAdmin.list_display == ("priority", "name", "rule", "customers", "weekly_cap", "description")
    assert DeviceAdmin.actions == ("send_test",)
