"""A check records the request id its answer carried, to link it to its log lines (issue 19)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("portal", "0006_authz_token_scopes")]

    operations = [
        migrations.AddField(
            model_name="checkresult",
            name="request_id",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
    ]
