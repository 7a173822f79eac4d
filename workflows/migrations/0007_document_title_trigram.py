"""Search the title in lists fast on PostgreSQL: a trigram index on UPPER(title), which is what Django's
`icontains` compares (`UPPER(title) LIKE UPPER('%…%')`). Other databases (SQLite) go without."""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS document_title_trgm ON workflows_document USING gin (UPPER(title) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS document_title_trgm"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("workflows", "0006_assignment_decided_index")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP), elidable=False)]
