from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("mailer", "0001_outgoing_email")]

    operations = [
        migrations.AddField(
            model_name="outgoingemail",
            name="ref",
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
    ]
