CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    api_access_enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    client_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    revoked_by TEXT,
    last_used_at TIMESTAMP
);

-- Serves "active keys of an account, newest first" (ListKeys) and the quota count.
CREATE INDEX api_keys_active_by_account
    ON api_keys (account_id, created_at DESC, client_id DESC)
    WHERE revoked_at IS NULL;

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    client_id TEXT,
    detail TEXT NOT NULL
);

CREATE INDEX audit_events_by_account ON audit_events (account_id, id DESC);
