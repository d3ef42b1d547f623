-- Webhooks (DESIGN 2.7): a fleet's receivers of events, and an outbox of deliveries written in the same
-- transaction as the events themselves, so an event committed is an event delivered (at least once),
-- whatever crashes in between. Jobs send what is due (next_attempt_at) and record each attempt.

CREATE TABLE webhooks (
    webhook_id  text COLLATE "C" PRIMARY KEY,
    fleet_id    text COLLATE "C" NOT NULL REFERENCES fleets ON DELETE CASCADE,
    url         text NOT NULL,
    event_types text[] NOT NULL,
    secret      text NOT NULL,  -- signs every delivery, so it is kept as issued (never logged or shown again)
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE INDEX webhooks_of_fleet ON webhooks (fleet_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    delivery_id     bigserial PRIMARY KEY,
    webhook_id      text COLLATE "C" NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    event_id        text NOT NULL,  -- what the receiver de-duplicates by: the same on every attempt
    event_type      text NOT NULL,
    body            text NOT NULL,  -- the exact JSON sent on every attempt
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer,        -- the receiver's HTTP status on the last attempt, if it answered
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_of_webhook ON webhook_deliveries (webhook_id, delivery_id);

-- Every statement that logs events (ingest, the offline sweep) fills the outbox for the fleets' live
-- webhooks that chose those event types. With no webhook at all it costs one index probe per statement.
CREATE FUNCTION harbor_enqueue_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE deleted_at IS NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, body)
    SELECT w.webhook_id, a.fleet_id || ':' || a.seq, a.type,
           CASE WHEN a.type = 'position' THEN json_build_object(
               'id', a.fleet_id || ':' || a.seq, 'fleet_id', a.fleet_id, 'type', a.type, 'seq', a.seq,
               'vehicle_id', a.vehicle_id, 'lat', f.lat, 'lng', f.lng,
               'recorded_at', to_char(a.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'speed_kmh', f.speed_kmh, 'heading_deg', f.heading_deg, 'accuracy_m', f.accuracy_m)
           ELSE json_build_object(
               'id', a.fleet_id || ':' || a.seq, 'fleet_id', a.fleet_id, 'type', a.type, 'seq', a.seq,
               'vehicle_id', a.vehicle_id, 'status', a.status,
               'at', to_char(a.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
           END::text
    FROM added a
    JOIN webhooks w ON w.fleet_id = a.fleet_id AND w.deleted_at IS NULL AND a.type = ANY (w.event_types)
    LEFT JOIN fixes f ON a.type = 'position'
         AND f.fleet_id = a.fleet_id AND f.vehicle_id = a.vehicle_id AND f.recorded_at = a.recorded_at
    ORDER BY a.fleet_id, a.seq
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_to_webhooks AFTER INSERT ON events
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION harbor_enqueue_deliveries();
