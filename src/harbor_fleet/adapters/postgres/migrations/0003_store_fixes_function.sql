-- Storing a batch of fixes as one call: the group-commit writer sends a single statement in an implicit
-- transaction (one round trip, no BEGIN/COMMIT to drive from Python), and the fleets' row locks are held
-- only for the time PostgreSQL itself needs, so that writers of several processes sharing fleets take
-- turns quickly.
--
-- p_rows is JSON: [{ord, fleet_id, vehicle_id, t (microseconds since the epoch), lat, lng, speed_kmh,
-- heading_deg, accuracy_m}]. The batch's fleets are locked first, in fleet_id order (no deadlocks between
-- writers), so that seq follows commit order. Duplicates are dropped; each stored fix takes its fleet's
-- next seq in `ord` order; the event log, the latest positions and the fleets' seq and vehicle_count
-- follow (the vehicle cap is the fleets table's CHECK: a batch past it fails as a whole). With a channel
-- (the PostgreSQL bus), one notification per fleet is sent when the transaction commits and only then:
-- {fleet, first, last, origin}, plus the events themselves ([seq, vehicle_id, t, lat, lng, speed_kmh,
-- heading_deg, accuracy_m] each) while the text stays under 7,000 bytes (PostgreSQL's limit is 8,000), so
-- that other processes need not read them back. Returns (ord, seq) per stored fix.
CREATE FUNCTION harbor_store_fixes(p_rows json, p_channel text, p_origin text)
RETURNS TABLE (ord integer, seq bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM fleets
    WHERE fleet_id IN (SELECT DISTINCT r.fleet_id FROM json_to_recordset(p_rows) AS r(fleet_id text))
    ORDER BY fleet_id FOR UPDATE;

    RETURN QUERY
    WITH input AS (
        SELECT r.ord, r.fleet_id, r.vehicle_id, r.t,
               timestamptz 'epoch' + r.t * interval '1 microsecond' AS recorded_at,
               r.lat, r.lng, r.speed_kmh, r.heading_deg, r.accuracy_m
        FROM json_to_recordset(p_rows) AS r(ord integer, fleet_id text, vehicle_id text, t bigint,
             lat float8, lng float8, speed_kmh float8, heading_deg float8, accuracy_m float8)
    ), inserted AS (
        INSERT INTO fixes (fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m)
        SELECT fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m FROM input
        ON CONFLICT DO NOTHING
        RETURNING fleet_id, vehicle_id, recorded_at
    ), numbered AS (
        SELECT i.*, f.seq + row_number() OVER (PARTITION BY i.fleet_id ORDER BY i.ord) AS seq
        FROM input i JOIN inserted USING (fleet_id, vehicle_id, recorded_at) JOIN fleets f USING (fleet_id)
    ), logged AS (
        INSERT INTO events (fleet_id, seq, type, vehicle_id, recorded_at)
        SELECT fleet_id, seq, 'position', vehicle_id, recorded_at FROM numbered
    ), latest AS (
        SELECT DISTINCT ON (fleet_id, vehicle_id) * FROM numbered ORDER BY fleet_id, vehicle_id, recorded_at DESC
    ), upserted AS (
        INSERT INTO vehicles AS v (fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m)
        SELECT fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m FROM latest
        ON CONFLICT (fleet_id, vehicle_id) DO UPDATE
            SET recorded_at = EXCLUDED.recorded_at, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
                speed_kmh = EXCLUDED.speed_kmh, heading_deg = EXCLUDED.heading_deg,
                accuracy_m = EXCLUDED.accuracy_m
            WHERE v.recorded_at < EXCLUDED.recorded_at
        RETURNING v.fleet_id, (xmax = 0) AS created
    ), totals AS (
        SELECT fleet_id, max(seq) AS seq,
               (SELECT count(*) FROM upserted u WHERE u.fleet_id = n.fleet_id AND u.created) AS created
        FROM numbered n GROUP BY fleet_id
    ), advanced AS (
        UPDATE fleets f SET seq = t.seq, vehicle_count = f.vehicle_count + t.created
        FROM totals t WHERE f.fleet_id = t.fleet_id
    ), announced AS (
        SELECT fleet_id, json_build_object('fleet', fleet_id, 'first', min(seq), 'last', max(seq),
                                           'origin', p_origin) AS short,
               json_agg(json_build_array(seq, vehicle_id, t, lat, lng, speed_kmh, heading_deg, accuracy_m)
                        ORDER BY seq) AS events
        FROM numbered WHERE p_channel IS NOT NULL GROUP BY fleet_id
    ), notified AS MATERIALIZED (
        SELECT pg_notify(p_channel, CASE
                   WHEN octet_length(a.events::text) < 6800
                   THEN left(a.short::text, -1) || ', "events" : ' || a.events::text || '}'
                   ELSE a.short::text END)
        FROM announced a
    )
    SELECT n.ord, n.seq FROM numbered n WHERE (SELECT count(*) FROM notified) >= 0;
END
$$;
