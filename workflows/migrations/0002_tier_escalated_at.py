from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("workflows", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="routetier",
            name="escalated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
