from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "devices"
    verbose_name = "Customers and devices"

    def ready(self) -> None:
        from devices import signals  # noqa: F401  (connects the credential cache's receivers)
