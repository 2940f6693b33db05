-- Keys that sign access tokens. The private key is sealed (AES-256-GCM) under a key-encryption
-- key that never enters the database.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    sealed_private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX signing_keys_by_age ON signing_keys (created_at DESC);
