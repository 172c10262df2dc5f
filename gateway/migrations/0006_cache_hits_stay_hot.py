"""A cache hit's UPDATE (hits, last_used_at) stays HOT: no index on those columns, and free room
on each page for the new row version. Before, `last_used_at` was indexed, so every hit wrote a
new entry into every index of the row, the HNSW graph included."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0005_mcp_servers"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="cacheentry",
            name="cache_template_lru",
        ),
        migrations.RunSQL(
            "ALTER TABLE gateway_cacheentry SET (fillfactor = 85)",
            reverse_sql="ALTER TABLE gateway_cacheentry RESET (fillfactor)",
        ),
    ]
