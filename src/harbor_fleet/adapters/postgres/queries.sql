-- name: insert_fleet
INSERT INTO fleets (fleet_id, name, offline_after_s, retention_days, max_vehicles)
VALUES (%(fleet_id)s, %(name)s, %(offline_after_s)s, %(retention_days)s, %(max_vehicles)s)
ON CONFLICT (fleet_id) DO NOTHING
RETURNING fleet_id;

-- name: get_fleet
SELECT fleet_id, name, offline_after_s, retention_days, max_vehicles FROM fleets WHERE fleet_id = %(fleet_id)s;

-- name: existing_fleets
SELECT fleet_id FROM fleets WHERE fleet_id = ANY(%(fleet_ids)s);

-- name: insert_key
INSERT INTO partner_keys (key_id, secret) VALUES (%(key_id)s, %(secret)s);

-- name: insert_key_fleets
INSERT INTO partner_key_fleets (key_id, fleet_id) SELECT %(key_id)s, unnest(%(fleet_ids)s::text[]);

-- name: get_key
SELECT k.secret, coalesce(array_agg(f.fleet_id) FILTER (WHERE f.fleet_id IS NOT NULL), '{}')
FROM partner_keys k LEFT JOIN partner_key_fleets f USING (key_id)
WHERE k.key_id = %(key_id)s AND k.revoked_at IS NULL
GROUP BY k.key_id, k.secret;

-- name: insert_token
INSERT INTO operator_tokens (token_id, token_sha256) VALUES (%(token_id)s, %(token_sha256)s);

-- name: insert_token_fleets
INSERT INTO operator_token_fleets (token_id, fleet_id) SELECT %(token_id)s, unnest(%(fleet_ids)s::text[]);

-- name: get_token
SELECT t.token_id, coalesce(array_agg(f.fleet_id) FILTER (WHERE f.fleet_id IS NOT NULL), '{}')
FROM operator_tokens t LEFT JOIN operator_token_fleets f USING (token_id)
WHERE t.token_sha256 = %(token_sha256)s AND t.revoked_at IS NULL
GROUP BY t.token_id;

-- name: fleet_seq
SELECT seq FROM fleets WHERE fleet_id = %(fleet_id)s;

-- name: latest_positions
SELECT vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m
FROM vehicles WHERE fleet_id = %(fleet_id)s;

-- name: vehicle_exists
SELECT 1 FROM vehicles WHERE fleet_id = %(fleet_id)s AND vehicle_id = %(vehicle_id)s;

-- name: track
SELECT recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m
FROM fixes
WHERE fleet_id = %(fleet_id)s AND vehicle_id = %(vehicle_id)s
  AND recorded_at >= %(from)s AND (%(to)s::timestamptz IS NULL OR recorded_at < %(to)s::timestamptz)
ORDER BY recorded_at
LIMIT %(limit)s;

-- name: lock_fleets
SELECT fleet_id, seq, vehicle_count, max_vehicles FROM fleets
WHERE fleet_id = ANY(%(fleet_ids)s) ORDER BY fleet_id FOR UPDATE;

-- name: known_vehicles
SELECT fleet_id, vehicle_id FROM vehicles
WHERE (fleet_id, vehicle_id) IN (SELECT * FROM unnest(%(fleet_ids)s::text[], %(vehicle_ids)s::text[]));

-- name: insert_fixes
INSERT INTO fixes (fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m)
SELECT * FROM unnest(%(fleet_ids)s::text[], %(vehicle_ids)s::text[], %(recorded_ats)s::timestamptz[],
                     %(lats)s::float8[], %(lngs)s::float8[], %(speeds)s::float8[], %(headings)s::float8[],
                     %(accuracies)s::float8[])
ON CONFLICT DO NOTHING
RETURNING fleet_id, vehicle_id, recorded_at;

-- name: insert_position_events
INSERT INTO events (fleet_id, seq, type, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m)
SELECT f, s, 'position', v, r, la, ln, sp, hd, ac
FROM unnest(%(fleet_ids)s::text[], %(seqs)s::int8[], %(vehicle_ids)s::text[], %(recorded_ats)s::timestamptz[],
            %(lats)s::float8[], %(lngs)s::float8[], %(speeds)s::float8[], %(headings)s::float8[],
            %(accuracies)s::float8[]) AS t(f, s, v, r, la, ln, sp, hd, ac);

-- name: upsert_vehicles
WITH upserted AS (
    INSERT INTO vehicles AS v (fleet_id, vehicle_id, recorded_at, lat, lng, speed_kmh, heading_deg, accuracy_m)
    SELECT * FROM unnest(%(fleet_ids)s::text[], %(vehicle_ids)s::text[], %(recorded_ats)s::timestamptz[],
                         %(lats)s::float8[], %(lngs)s::float8[], %(speeds)s::float8[], %(headings)s::float8[],
                         %(accuracies)s::float8[])
    ON CONFLICT (fleet_id, vehicle_id) DO UPDATE
        SET recorded_at = EXCLUDED.recorded_at, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
            speed_kmh = EXCLUDED.speed_kmh, heading_deg = EXCLUDED.heading_deg, accuracy_m = EXCLUDED.accuracy_m
        WHERE v.recorded_at < EXCLUDED.recorded_at
    RETURNING v.fleet_id, (xmax = 0) AS created
), created AS (
    SELECT fleet_id, count(*) AS n FROM upserted WHERE created GROUP BY fleet_id
)
UPDATE fleets f SET seq = s.seq, vehicle_count = f.vehicle_count + coalesce(c.n, 0)
FROM unnest(%(seq_fleet_ids)s::text[], %(last_seqs)s::int8[]) AS s(fleet_id, seq)
LEFT JOIN created c ON c.fleet_id = s.fleet_id
WHERE f.fleet_id = s.fleet_id;
