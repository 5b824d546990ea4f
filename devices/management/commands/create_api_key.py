"""Creates a server API key and prints it alone on the last line (it is shown only once)."""

from django.core.management.base import BaseCommand, CommandError

from devices.models import ApiKey
from devices.services import api_key_create
from optimus_site.dbutils import ensure_schema


class Command(BaseCommand):
    help = "Create an API key for the business backend. The key is printed once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use the key, e.g. 'shop backend'")

    def handle(self, *args, name: str, **options):
        ensure_schema(self.stderr)
        name = name.strip()
        if not name:
            raise CommandError("give the key a name")
        if len(name) > ApiKey._meta.get_field("name").max_length:
            raise CommandError("the name is too long (100 characters at most)")
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"an API key named {name!r} already exists; revoke it in the admin or pick another name")
        key, plain = api_key_create(name=name)
        self.stderr.write(f"Created API key {key.name!r}. Store it now: it cannot be shown again.")
        self.stdout.write(plain)
