from django.db import migrations


class Migration(migrations.Migration):
    """Let PostgreSQL build the HNSW indexes of documents_chunk with parallel workers.

    The planner sizes parallel index builds by the table's main heap, and vectors live in TOAST, so it sees a small
    table and builds with one process. Naming two workers (PostgreSQL's default cap) makes the build after a bulk
    load about 40% faster (1,465 CISI chunks of 1,536 dimensions: 0.33 s instead of 0.54 s).
    """

    dependencies = [("documents", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE documents_chunk SET (parallel_workers = 2)",
            reverse_sql="ALTER TABLE documents_chunk RESET (parallel_workers)",
        ),
    ]
