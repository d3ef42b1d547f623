-- Vehicle status events (DESIGN 2.7): each vehicle's status as last announced, and when it falls due to
-- turn offline, so that a sweep finds the vehicles to announce through an index instead of a scan.
ALTER TABLE vehicles
    ADD COLUMN status text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline')),
    ADD COLUMN offline_at timestamptz;

-- Vehicles stored before this migration take their status by the rule, without an event.
UPDATE vehicles v SET offline_at = v.recorded_at + f.offline_after_s * interval '1 second',
                      status = CASE WHEN v.recorded_at + f.offline_after_s * interval '1 second' <= now()
                                    THEN 'offline' ELSE 'online' END
FROM fleets f WHERE f.fleet_id = v.fleet_id;

CREATE INDEX vehicles_due_offline ON vehicles (offline_at) WHERE status = 'online';

-- Ingest now also announces vehicles coming back online. The columns returned grow (the earlier ones
-- stay first, so a caller selecting `ord, seq` by name is unaffected): a position event has its `ord`;
-- a status event has no `ord` and names its fleet, vehicle, status and instant (µs since the epoch).
DROP FUNCTION harbor_store_fixes(json, text, text);

-- p_rows is JSON: [{ord, fleet_id, vehicle_id, t (microseconds since the epoch), lat, lng, speed_kmh,
-- heading_deg, accuracy_m}]. The batch's fleets are locked first, in fleet_id order (no deadlocks between
-- writers), so that seq follows commit order. Duplicates are dropped; each stored fix takes its fleet's
-- next seq in `ord` order; then each vehicle that was offline and whose new latest fix is within the
-- fleet's threshold takes the next seq for its `online` event (a new vehicle's first fix sets its status
-- by the same rule, without an event). The event log, the latest positions and the fleets' seq and
-- vehicle_count follow (the vehicle cap is the fleets table's CHECK: a batch past it fails as a whole).
-- With a channel (the PostgreSQL bus), one notification per fleet is sent when the transaction commits
-- and only then: {fleet, first, last, origin}, plus the position events themselves ([seq, vehicle_id, t,
-- lat, lng, speed_kmh, heading_deg, accuracy_m] each) when there are only position events and the text
-- stays under 7,000 bytes (PostgreSQL's limit is 8,000), so that other processes need not read them back.
CREATE FUNCTION harbor_store_fixes(p_rows json, p_channel text, p_origin text)
RETURNS TABLE (ord integer, seq bigint, fleet_id text, vehicle_id text, status text, at_us bigint)
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
        SELECT i.*, f.seq + row_number() OVER (PARTITION BY i.fleet_id ORDER BY i.ord) AS seq,
               f.offline_after_s
        FROM input i JOIN inserted USING (fleet_id, vehicle_id, recorded_at) JOIN fleets f USING (fleet_id)
    ), latest AS (
        -- Each vehicle's newest stored fix of the batch, with its status before the batch (the statement's
        -- snapshot: the fleet is locked, so nothing else changed it since) and its status by the rule.
        SELECT DISTINCT ON (n.fleet_id, n.vehicle_id) n.*, v.recorded_at AS was_at, v.status AS was,
               CASE WHEN n.recorded_at + n.offline_after_s * interval '1 second' > now()
                    THEN 'online' ELSE 'offline' END AS by_rule
        FROM numbered n LEFT JOIN vehicles v USING (fleet_id, vehicle_id)
        ORDER BY n.fleet_id, n.vehicle_id, n.recorded_at DESC
    ), back_online AS (
        SELECT l.fleet_id, l.vehicle_id, l.t,
               (SELECT max(n.seq) FROM numbered n WHERE n.fleet_id = l.fleet_id)
               + row_number() OVER (PARTITION BY l.fleet_id ORDER BY l.t, l.vehicle_id) AS seq
        FROM latest l
        WHERE l.was = 'offline' AND l.by_rule = 'online' AND l.recorded_at > l.was_at
    ), logged AS (
        INSERT INTO events (fleet_id, seq, type, vehicle_id, recorded_at, status)
        SELECT fleet_id, seq, 'position', vehicle_id, recorded_at, NULL FROM numbered
        UNION ALL
        SELECT fleet_id, seq, 'vehicle_status', vehicle_id, timestamptz 'epoch' + t * interval '1 microsecond',
               'online'
        FROM back_online
    ), upserted AS (
        INSERT INTO vehicles AS v (fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m,
                                   status, offline_at)
        SELECT fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m, by_rule,
               recorded_at + offline_after_s * interval '1 second'
        FROM latest
        ON CONFLICT (fleet_id, vehicle_id) DO UPDATE
            SET recorded_at = EXCLUDED.recorded_at, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
                speed_kmh = EXCLUDED.speed_kmh, heading_deg = EXCLUDED.heading_deg,
                accuracy_m = EXCLUDED.accuracy_m, offline_at = EXCLUDED.offline_at,
                -- only coming back online changes the status here; going offline is the sweep's to announce
                status = CASE WHEN EXCLUDED.status = 'online' THEN 'online' ELSE v.status END
            WHERE v.recorded_at < EXCLUDED.recorded_at
        RETURNING v.fleet_id, (xmax = 0) AS created
    ), totals AS (
        SELECT n.fleet_id, greatest(max(n.seq), (SELECT max(b.seq) FROM back_online b WHERE b.fleet_id = n.fleet_id))
                   AS seq,
               (SELECT count(*) FROM upserted u WHERE u.fleet_id = n.fleet_id AND u.created) AS created
        FROM numbered n GROUP BY n.fleet_id
    ), advanced AS (
        UPDATE fleets f SET seq = t.seq, vehicle_count = f.vehicle_count + t.created
        FROM totals t WHERE f.fleet_id = t.fleet_id
    ), announced AS (
        SELECT n.fleet_id, t.seq AS last,
               json_build_object('fleet', n.fleet_id, 'first', min(n.seq), 'last', t.seq, 'origin', p_origin)
                   AS short,
               json_agg(json_build_array(n.seq, n.vehicle_id, n.t, n.lat, n.lng, n.speed_kmh, n.heading_deg,
                                         n.accuracy_m) ORDER BY n.seq) AS positions
        FROM numbered n JOIN totals t USING (fleet_id)
        WHERE p_channel IS NOT NULL GROUP BY n.fleet_id, t.seq
    ), notified AS MATERIALIZED (
        SELECT pg_notify(p_channel, CASE
                   WHEN a.last = (SELECT max(n.seq) FROM numbered n WHERE n.fleet_id = a.fleet_id)
                        AND octet_length(a.positions::text) < 6800
                   THEN left(a.short::text, -1) || ', "events" : ' || a.positions::text || '}'
                   ELSE a.short::text END)
        FROM announced a
    )
    SELECT n.ord, n.seq, n.fleet_id, NULL::text, NULL::text, NULL::bigint FROM numbered n
    WHERE (SELECT count(*) FROM notified) >= 0
    UNION ALL
    SELECT NULL::integer, b.seq, b.fleet_id, b.vehicle_id, 'online'::text, b.t FROM back_online b;
END
$$;

-- The sweep (a job, every second): vehicles whose threshold has passed with no newer fix turn offline,
-- each with a `vehicle_status` event whose `at` is its latest recorded_at plus the threshold. Their fleets
-- are locked in fleet_id order first, as ingest does, so the events' seq interleave correctly with ingest's
-- and a vehicle that just reported is not announced; two sweeps at once announce each change once.
-- Returns the events (fleet_id, seq, vehicle_id, at in µs since the epoch) and notifies as ingest does
-- (without carrying the events).
CREATE FUNCTION harbor_sweep_offline(p_channel text, p_origin text)
RETURNS TABLE (fleet_id text, seq bigint, vehicle_id text, at_us bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    locked text[];
BEGIN
    SELECT array_agg(l.fleet_id) INTO locked FROM (
        SELECT f.fleet_id FROM fleets f
        WHERE f.fleet_id IN (SELECT v.fleet_id FROM vehicles v WHERE v.status = 'online' AND v.offline_at <= now())
        ORDER BY f.fleet_id FOR UPDATE
    ) l;
    IF locked IS NULL THEN
        RETURN;
    END IF;

    RETURN QUERY
    WITH turned AS (
        UPDATE vehicles v SET status = 'offline'
        WHERE v.status = 'online' AND v.offline_at <= now() AND v.fleet_id = ANY(locked)
        RETURNING v.fleet_id, v.vehicle_id, v.offline_at
    ), numbered AS (
        SELECT t.fleet_id, t.vehicle_id, t.offline_at,
               f.seq + row_number() OVER (PARTITION BY t.fleet_id ORDER BY t.offline_at, t.vehicle_id) AS seq
        FROM turned t JOIN fleets f USING (fleet_id)
    ), logged AS (
        INSERT INTO events (fleet_id, seq, type, vehicle_id, recorded_at, status)
        SELECT fleet_id, seq, 'vehicle_status', vehicle_id, offline_at, 'offline' FROM numbered
    ), advanced AS (
        UPDATE fleets f SET seq = m.seq
        FROM (SELECT n.fleet_id, max(n.seq) AS seq FROM numbered n GROUP BY n.fleet_id) m
        WHERE f.fleet_id = m.fleet_id
    ), notified AS MATERIALIZED (
        SELECT pg_notify(p_channel, json_build_object('fleet', n.fleet_id, 'first', min(n.seq), 'last', max(n.seq),
                                                      'origin', p_origin)::text)
        FROM numbered n WHERE p_channel IS NOT NULL GROUP BY n.fleet_id
    )
    SELECT n.fleet_id, n.seq, n.vehicle_id,
           (extract(epoch FROM n.offline_at) * 1000000)::bigint
    FROM numbered n WHERE (SELECT count(*) FROM notified) >= 0;
END
$$;
