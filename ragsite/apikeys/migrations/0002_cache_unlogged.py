from django.db import migrations


class Migration(migrations.Migration):
    """The cache table holds rate-limit counters that live two minutes: not worth a WAL record each.

    Every request increments a counter in its own small transaction; on a logged table each commit waited for the
    write-ahead log to reach the disk. Unlogged, a commit returns at once; a crash of PostgreSQL empties the table,
    which forgets at most the current window's counts.
    """

    dependencies = [("apikeys", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE ragsite_cache SET UNLOGGED",
            reverse_sql="ALTER TABLE ragsite_cache SET LOGGED",
        ),
    ]
