-- Retention (a job, hourly): history older than its fleet's retention_days goes, in bounded batches that
-- each commit on their own and take no fleet lock, so ingest is never held up. Latest positions (vehicles)
-- are never touched. Whole day partitions older than every fleet's retention are dropped instead.

-- One batch: at most p_limit expired fixes (by recorded_at: partition pruning finds them) and at most
-- p_limit events that left the log's retention (by committed_at, walked from the lowest seq through the
-- primary key, since the log is in seq order). Returns how many rows went; the caller
-- repeats until a batch deletes nothing.
CREATE FUNCTION harbor_delete_expired(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    fixes_deleted integer;
    events_deleted integer;
BEGIN
    WITH doomed AS (
        SELECT x.fleet_id, x.vehicle_id, x.recorded_at
        FROM fleets f
        CROSS JOIN LATERAL (
            SELECT fx.fleet_id, fx.vehicle_id, fx.recorded_at FROM fixes fx
            WHERE fx.fleet_id = f.fleet_id AND fx.recorded_at < now() - f.retention_days * interval '1 day'
            LIMIT p_limit
        ) x
        LIMIT p_limit
    )
    DELETE FROM fixes fx USING doomed d
    WHERE fx.fleet_id = d.fleet_id AND fx.vehicle_id = d.vehicle_id AND fx.recorded_at = d.recorded_at;
    GET DIAGNOSTICS fixes_deleted = ROW_COUNT;

    WITH doomed AS (
        SELECT x.fleet_id, x.seq
        FROM fleets f
        CROSS JOIN LATERAL (
            SELECT e.fleet_id, e.seq, e.committed_at FROM events e
            WHERE e.fleet_id = f.fleet_id ORDER BY e.seq LIMIT p_limit
        ) x
        WHERE x.committed_at < now() - f.retention_days * interval '1 day'
        LIMIT p_limit
    )
    DELETE FROM events e USING doomed d WHERE e.fleet_id = d.fleet_id AND e.seq = d.seq;
    GET DIAGNOSTICS events_deleted = ROW_COUNT;
    RETURN fixes_deleted + events_deleted;
END
$$;

-- Day partitions of fixes wholly older than the longest retention of any fleet: dropped (instant, and
-- no dead rows left behind). Returns how many.
CREATE FUNCTION harbor_drop_expired_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    keep_from date := ((now() - coalesce((SELECT max(retention_days) FROM fleets), 0) * interval '1 day')
                       AT TIME ZONE 'UTC')::date;
    part record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'fixes'::regclass AND c.relname ~ '^fixes_[0-9]{8}$'
          AND to_date(substr(c.relname, 7), 'YYYYMMDD') < keep_from
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
