"""PostgreSQL: the source of truth. psycopg 3, async."""
