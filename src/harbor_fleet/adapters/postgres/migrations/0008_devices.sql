-- Device credentials (DESIGN 2.9): a phone app (Traccar Client, OwnTracks) reports as one vehicle of one
-- fleet with a bearer secret of its own, stored as SHA-256. `device list` shows when each was last heard
-- and why its last fix was dropped, if one was.
CREATE TABLE devices (
    device_id          text PRIMARY KEY,
    fleet_id           text NOT NULL REFERENCES fleets (fleet_id) ON DELETE CASCADE,
    vehicle_id         text NOT NULL,
    token_sha256       bytea NOT NULL UNIQUE,
    -- OwnTracks' payload encryption key, when the device was created with one: kept as given, since
    -- decrypting needs it (like a partner key's secret).
    owntracks_key      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    last_seen_at       timestamptz,
    battery_percent    real,
    last_rejection     text,
    last_rejection_at  timestamptz
);
CREATE INDEX devices_by_fleet ON devices (fleet_id, created_at);

-- Whether a fleet's phones are shown the fleet's other vehicles (OwnTracks draws them on its own map).
ALTER TABLE fleets ADD COLUMN devices_see_fleet boolean NOT NULL DEFAULT false;
