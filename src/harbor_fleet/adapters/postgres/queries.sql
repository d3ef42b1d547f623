-- name: insert_fleet
INSERT INTO fleets (fleet_id, name, offline_after_s, retention_days, max_vehicles, devices_see_fleet)
VALUES (%(fleet_id)s, %(name)s, %(offline_after_s)s, %(retention_days)s, %(max_vehicles)s, %(devices_see_fleet)s)
ON CONFLICT (fleet_id) DO NOTHING
RETURNING fleet_id;

-- name: get_fleet
SELECT fleet_id, name, offline_after_s, retention_days, max_vehicles, devices_see_fleet
FROM fleets WHERE fleet_id = %(fleet_id)s;

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

-- name: revoke_key
UPDATE partner_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = %(key_id)s RETURNING revoked_at;

-- name: revoke_token
WITH revoked AS (
    UPDATE operator_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE token_id = %(token_id)s
    RETURNING token_id, revoked_at
), ended AS (
    DELETE FROM operator_sessions WHERE token_id IN (SELECT token_id FROM revoked)
)
SELECT revoked_at FROM revoked;

-- name: key_fleets
SELECT f.fleet_id FROM partner_keys k JOIN partner_key_fleets f USING (key_id)
WHERE k.key_id = %(key_id)s AND k.revoked_at IS NULL ORDER BY f.fleet_id;

-- name: list_keys
SELECT k.key_id, k.created_at, k.revoked_at, array_agg(f.fleet_id ORDER BY f.fleet_id)
FROM partner_keys k JOIN partner_key_fleets f USING (key_id)
WHERE k.key_id IN (SELECT key_id FROM partner_key_fleets WHERE fleet_id = %(fleet_id)s)
GROUP BY k.key_id ORDER BY k.created_at, k.key_id;

-- name: list_tokens
SELECT t.token_id, t.created_at, t.revoked_at, array_agg(f.fleet_id ORDER BY f.fleet_id)
FROM operator_tokens t JOIN operator_token_fleets f USING (token_id)
WHERE t.token_id IN (SELECT token_id FROM operator_token_fleets WHERE fleet_id = %(fleet_id)s)
GROUP BY t.token_id ORDER BY t.created_at, t.token_id;

-- name: insert_session
INSERT INTO operator_sessions (session_sha256, token_id, expires_at)
VALUES (%(session_sha256)s, %(token_id)s, now() + make_interval(secs => %(seconds)s));

-- name: get_session
SELECT t.token_id, coalesce(array_agg(f.fleet_id) FILTER (WHERE f.fleet_id IS NOT NULL), '{}')
FROM operator_sessions s
JOIN operator_tokens t USING (token_id)
LEFT JOIN operator_token_fleets f USING (token_id)
WHERE s.session_sha256 = %(session_sha256)s AND s.expires_at > now() AND t.revoked_at IS NULL
GROUP BY t.token_id;

-- name: delete_session
DELETE FROM operator_sessions WHERE session_sha256 = %(session_sha256)s;

-- name: fleet_seq
SELECT seq FROM fleets WHERE fleet_id = %(fleet_id)s;

-- name: fleet_seqs
SELECT fleet_id, seq FROM fleets WHERE fleet_id = ANY(%(fleet_ids)s);

-- name: events
-- A position event's fix (from fixes), or a status event's status and instant (in recorded_at).
SELECT e.seq, e.vehicle_id, e.recorded_at, f.lat, f.lng, f.speed_kmh, f.heading_deg, f.accuracy_m, e.status
FROM events e
LEFT JOIN fixes f ON e.type = 'position'
     AND f.fleet_id = e.fleet_id AND f.vehicle_id = e.vehicle_id AND f.recorded_at = e.recorded_at
WHERE e.fleet_id = %(fleet_id)s AND e.seq > %(after)s AND e.seq <= %(upto)s
  AND (e.type <> 'position' OR f.fleet_id IS NOT NULL)
ORDER BY e.seq;

-- name: sweep_offline
SELECT fleet_id, seq, vehicle_id, at_us FROM harbor_sweep_offline(%(channel)s::text, %(origin)s::text);

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
SELECT fleet_id, vehicle_count, max_vehicles FROM fleets
WHERE fleet_id = ANY(%(fleet_ids)s) ORDER BY fleet_id FOR UPDATE;

-- name: known_vehicles
SELECT vehicle_id FROM vehicles WHERE fleet_id = %(fleet_id)s AND vehicle_id = ANY(%(vehicle_ids)s);

-- name: store_fixes
-- One batch (JSON rows, see harbor_store_fixes in migration 0004): locks its fleets, stores, numbers and
-- announces; returns (ord, seq) per stored fix and (seq, fleet_id, vehicle_id, status, at) per status event.
SELECT ord, seq, fleet_id, vehicle_id, status, at_us
FROM harbor_store_fixes(%(rows)s::json, %(channel)s::text, %(origin)s::text);

-- name: delete_expired
SELECT harbor_delete_expired(%(limit)s);

-- name: drop_expired_partitions
SELECT harbor_drop_expired_partitions();

-- name: make_partitions
-- Day partitions of fix history from yesterday to a week ahead.
SELECT harbor_make_fix_partitions((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7);

-- name: queue_stats
-- The job queue: jobs due and waiting, jobs failed (kept to inspect), and how long the oldest due job has
-- waited since it was deferred (or scheduled for), in seconds.
SELECT count(*) FILTER (WHERE j.status = 'todo' AND coalesce(j.scheduled_at <= now(), true)),
       count(*) FILTER (WHERE j.status = 'failed'),
       coalesce(extract(epoch FROM now() - min(greatest(j.scheduled_at, d.at))
                FILTER (WHERE j.status = 'todo' AND coalesce(j.scheduled_at <= now(), true))), 0)::float8
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT min(e.at) AS at FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'deferred'
) d ON true;

-- name: insert_webhook
INSERT INTO webhooks (webhook_id, fleet_id, url, event_types, secret)
VALUES (%(webhook_id)s, %(fleet_id)s, %(url)s, %(event_types)s, %(secret)s);

-- name: list_webhooks
SELECT webhook_id, fleet_id, url, event_types, created_at,
       (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'pending'),
       (SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.webhook_id AND d.status = 'dead')
FROM webhooks w WHERE fleet_id = %(fleet_id)s AND deleted_at IS NULL ORDER BY created_at, webhook_id;

-- name: delete_webhook
-- What was still to be delivered is given up (recorded as dead, with the reason).
WITH gone AS (
    UPDATE webhooks SET deleted_at = now() WHERE webhook_id = %(webhook_id)s AND deleted_at IS NULL
    RETURNING webhook_id
), given_up AS (
    UPDATE webhook_deliveries d SET status = 'dead', last_error = 'the webhook was deleted', finished_at = now()
    FROM gone WHERE d.webhook_id = gone.webhook_id AND d.status = 'pending'
)
SELECT webhook_id FROM gone;

-- name: list_deliveries
SELECT d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, d.last_status, d.last_error,
       d.created_at, d.next_attempt_at, d.finished_at
FROM webhook_deliveries d JOIN webhooks w USING (webhook_id)
WHERE w.fleet_id = %(fleet_id)s AND (%(status)s::text IS NULL OR d.status = %(status)s)
ORDER BY d.delivery_id DESC LIMIT %(limit)s;

-- name: lease_due_deliveries
-- Deliveries due now, leased for `lease` seconds (so the next dispatch does not send them again while an
-- attempt is under way; an attempt that never reports back is retried when the lease runs out).
UPDATE webhook_deliveries SET next_attempt_at = now() + %(lease)s * interval '1 second'
WHERE delivery_id IN (
    SELECT delivery_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
RETURNING delivery_id, attempts;

-- name: get_delivery
SELECT d.delivery_id, d.event_id, d.body, d.attempts, w.url, w.secret
FROM webhook_deliveries d JOIN webhooks w USING (webhook_id)
WHERE d.delivery_id = %(delivery_id)s AND d.status = 'pending' AND d.attempts = %(attempts)s;

-- name: record_delivery
-- One attempt's outcome: delivered, retried at `retry_at`, or dead (retry_at null and not delivered). Only
-- the attempt leased with `attempts` records (a repeat of an attempt already recorded changes nothing).
UPDATE webhook_deliveries SET
    attempts = attempts + 1,
    last_status = %(http_status)s,
    last_error = %(error)s,
    status = CASE WHEN %(delivered)s THEN 'delivered' WHEN %(retry_at)s::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
    next_attempt_at = coalesce(%(retry_at)s::timestamptz, next_attempt_at),
    finished_at = CASE WHEN %(delivered)s OR %(retry_at)s::timestamptz IS NULL THEN now() END
WHERE delivery_id = %(delivery_id)s AND status = 'pending' AND attempts = %(attempts)s;

-- name: delete_expired_deliveries
-- Finished webhook deliveries (delivered or dead) past their fleet's retention, at most `limit` at once.
DELETE FROM webhook_deliveries WHERE delivery_id IN (
    SELECT d.delivery_id FROM webhook_deliveries d
    JOIN webhooks w USING (webhook_id) JOIN fleets f USING (fleet_id)
    WHERE d.status <> 'pending' AND d.finished_at < now() - f.retention_days * interval '1 day'
    LIMIT %(limit)s
);

-- name: insert_device
INSERT INTO devices (device_id, fleet_id, vehicle_id, token_sha256, owntracks_key)
VALUES (%(device_id)s, %(fleet_id)s, %(vehicle_id)s, %(token_sha256)s, %(owntracks_key)s);

-- name: get_device
SELECT device_id, fleet_id, vehicle_id, owntracks_key FROM devices
WHERE token_sha256 = %(token_sha256)s AND revoked_at IS NULL;

-- name: list_devices
SELECT device_id, fleet_id, vehicle_id, created_at, revoked_at, last_seen_at, battery_percent,
       last_rejection, last_rejection_at
FROM devices WHERE fleet_id = %(fleet_id)s ORDER BY created_at, device_id;

-- name: revoke_device
UPDATE devices SET revoked_at = coalesce(revoked_at, now()) WHERE device_id = %(device_id)s RETURNING revoked_at;

-- name: device_seen
-- What a report tells of its device: that it was heard, its battery (kept when the report has none, or when
-- the reading was taken before the one kept), and the reason its fix was dropped, when it was. The
-- comparison is made on the locked row (twice, once per column), so concurrent reports keep the newest.
UPDATE devices SET last_seen_at = now(),
                   battery_percent = CASE
                       WHEN %(battery)s::real IS NOT NULL AND (battery_at IS NULL OR %(battery_at)s::bigint >= battery_at)
                       THEN %(battery)s::real ELSE battery_percent END,
                   battery_at = CASE
                       WHEN %(battery)s::real IS NOT NULL AND (battery_at IS NULL OR %(battery_at)s::bigint >= battery_at)
                       THEN %(battery_at)s::bigint ELSE battery_at END,
                   last_rejection = coalesce(%(rejection)s::text, last_rejection),
                   last_rejection_at = CASE WHEN %(rejection)s::text IS NULL THEN last_rejection_at ELSE now() END
WHERE device_id = %(device_id)s;
