-- Browser sessions of the live map: an operator token exchanged for an HttpOnly cookie. Only the
-- SHA-256 of the session id is stored; a session ends with its token (revoked or deleted).
CREATE TABLE operator_sessions (
    session_sha256 bytea PRIMARY KEY,
    token_id       text COLLATE "C" NOT NULL REFERENCES operator_tokens ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);

CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);
