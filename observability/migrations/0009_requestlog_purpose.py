from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("observability", "0008_requestlog_tools_used"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestlog",
            name="purpose",
            field=models.CharField(
                choices=[("turn", "Turn"), ("title", "Title")], default="turn", max_length=10
            ),
        ),
    ]
