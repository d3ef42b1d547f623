-- When the battery reading a device last gave was taken (µs since the epoch): a late resend of an old fix
-- (the apps resend, oldest first, whatever was not acknowledged) must not set the battery back.
ALTER TABLE devices ADD COLUMN battery_at bigint;
