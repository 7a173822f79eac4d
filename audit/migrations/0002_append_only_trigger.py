from django.db import migrations


def install(apps, schema_editor):
    from audit.services import install_database_guards

    install_database_guards()


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
