from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0002_branches_archive_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="source",
            field=models.CharField(
                choices=[("chat", "Chat"), ("api", "API")], default="chat", max_length=10
            ),
        ),
    ]
