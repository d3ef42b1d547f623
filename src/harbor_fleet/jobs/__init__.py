"""Background work on the PostgreSQL job queue (procrastinate): the offline sweep, retention, webhooks."""
