"""Who may see which document, one row per (person, document), filled from the routes already there.

The backfill is the same statement as `workflows.services.access.REBUILD_SQL`, copied so that this
migration keeps meaning what it meant when the service changes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

BACKFILL = """
INSERT INTO workflows_documentaccess (user_id, document_id, requester, seat, created_at)
SELECT p.user_id, p.document_id, MAX(p.requester) = 1, MAX(p.seat) = 1, MAX(d.created_at)
FROM (
    SELECT requester_id AS user_id, id AS document_id, 1 AS requester, 0 AS seat FROM workflows_document
    UNION ALL
    SELECT signer_id, document_id, 0, 1 FROM workflows_assignment
    UNION ALL
    SELECT decided_by_id, document_id, 0, 1 FROM workflows_assignment WHERE decided_by_id IS NOT NULL
) p JOIN workflows_document d ON d.id = p.document_id
GROUP BY p.user_id, p.document_id
"""


def backfill(apps, schema_editor):
    schema_editor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0007_document_title_trigram"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DocumentAccess",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("requester", models.BooleanField(default=False, help_text="the person requested the document")),
                (
                    "seat",
                    models.BooleanField(default=False, help_text="the person holds, or decided, a seat in its route"),
                ),
                (
                    "created_at",
                    models.DateTimeField(help_text="the document's, copied: the lists sort on it, newest first"),
                ),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="access", to="workflows.document"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["user", "-created_at", "-document"], name="access_newest")],
                "constraints": [
                    models.UniqueConstraint(fields=("user", "document"), name="one_access_per_user_document")
                ],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
    ]
