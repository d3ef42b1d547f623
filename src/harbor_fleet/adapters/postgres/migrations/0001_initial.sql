-- Fleets, credentials, vehicles (latest positions), the event log and fix history.

CREATE TABLE fleets (
    fleet_id        text COLLATE "C" PRIMARY KEY,
    name            text,
    offline_after_s integer NOT NULL DEFAULT 300 CHECK (offline_after_s BETWEEN 1 AND 86400),
    retention_days  integer NOT NULL DEFAULT 90 CHECK (retention_days >= 1),
    max_vehicles    integer NOT NULL DEFAULT 10000 CHECK (max_vehicles >= 1),
    seq             bigint  NOT NULL DEFAULT 0,   -- the fleet's last event sequence number
    vehicle_count   integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vehicle_cap CHECK (vehicle_count <= max_vehicles)
);

-- Partner keys sign ingest requests. The secret must verify HMACs, so it is kept as issued;
-- it is never logged or shown again.
CREATE TABLE partner_keys (
    key_id      text COLLATE "C" PRIMARY KEY,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE partner_key_fleets (
    key_id   text COLLATE "C" NOT NULL REFERENCES partner_keys ON DELETE CASCADE,
    fleet_id text COLLATE "C" NOT NULL REFERENCES fleets ON DELETE CASCADE,
    PRIMARY KEY (key_id, fleet_id)
);

-- Operator tokens are stored only as their SHA-256.
CREATE TABLE operator_tokens (
    token_id     text COLLATE "C" PRIMARY KEY,
    token_sha256 bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE operator_token_fleets (
    token_id text COLLATE "C" NOT NULL REFERENCES operator_tokens ON DELETE CASCADE,
    fleet_id text COLLATE "C" NOT NULL REFERENCES fleets ON DELETE CASCADE,
    PRIMARY KEY (token_id, fleet_id)
);

-- Latest positions: one row per vehicle, what trackers reload and status falls back on.
CREATE TABLE vehicles (
    fleet_id    text COLLATE "C" NOT NULL REFERENCES fleets ON DELETE CASCADE,
    vehicle_id  text COLLATE "C" NOT NULL,
    recorded_at timestamptz NOT NULL,
    lat         double precision NOT NULL,
    lng         double precision NOT NULL,
    speed_kmh   double precision,
    heading_deg double precision,
    accuracy_m  double precision,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fleet_id, vehicle_id)
);

-- The event log: every event with its fleet seq, what a live stream's `since` replays.
CREATE TABLE events (
    fleet_id    text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL,
    type        text NOT NULL,
    vehicle_id  text COLLATE "C" NOT NULL,
    recorded_at timestamptz,
    lat         double precision,
    lng         double precision,
    speed_kmh   double precision,
    heading_deg double precision,
    accuracy_m  double precision,
    status      text,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fleet_id, seq)
);

-- History: every stored fix, what track reads. Partitioned by day of recorded_at so that
-- retention drops whole partitions; the default partition takes what no day partition covers.
CREATE TABLE fixes (
    fleet_id    text COLLATE "C" NOT NULL,
    vehicle_id  text COLLATE "C" NOT NULL,
    recorded_at timestamptz NOT NULL,
    lat         double precision NOT NULL,
    lng         double precision NOT NULL,
    speed_kmh   double precision,
    heading_deg double precision,
    accuracy_m  double precision,
    PRIMARY KEY (fleet_id, vehicle_id, recorded_at)
) PARTITION BY RANGE (recorded_at);

CREATE TABLE fixes_default PARTITION OF fixes DEFAULT;

-- Day partitions [first_day, last_day], skipping any that exist or whose range the default
-- partition already holds rows for (those stay in the default partition).
CREATE FUNCTION harbor_make_fix_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date := first_day;
    made integer := 0;
    part text;
BEGIN
    WHILE day <= last_day LOOP
        part := 'fixes_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(part) IS NULL AND NOT EXISTS (
            SELECT 1 FROM fixes_default
            WHERE recorded_at >= day::timestamp AT TIME ZONE 'UTC'
              AND recorded_at < (day + 1)::timestamp AT TIME ZONE 'UTC'
        ) THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF fixes FOR VALUES FROM (%L) TO (%L)',
                part, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN made;
END;
$$;
