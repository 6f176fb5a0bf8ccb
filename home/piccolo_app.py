"""The `home` Piccolo app: its tables, its migrations and its CLI tasks."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, Command

from home.changes.tables import WebhookAttempt, WebhookEndpoint, WebhookRedelivery
from home.commands.copy_to import copy_to
from home.commands.ensure_admin import ensure_admin
from home.commands.export import export
from home.commands.import_file import import_file
from home.commands.new_api_key import new_api_key
from home.commands.new_staff import new_staff
from home.commands.populate import populate
from home.roster.tables import ActivityPeriod, ApiKey, AuditEntry, Closing, Member

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "piccolo_migrations"

APP_CONFIG = AppConfig(
    app_name="home",
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=[
        Member,
        ActivityPeriod,
        ApiKey,
        AuditEntry,
        Closing,
        WebhookEndpoint,
        WebhookAttempt,
        WebhookRedelivery,
    ],
    migration_dependencies=[],
    commands=[
        Command(callable=populate, aliases=["seed"]),
        Command(callable=ensure_admin),
        Command(callable=new_api_key),
        Command(callable=new_staff),
        Command(callable=import_file, command_name="import"),
        Command(callable=export),
        Command(callable=copy_to),
    ],
)
