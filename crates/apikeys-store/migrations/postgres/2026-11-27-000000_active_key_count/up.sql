-- How many active (unrevoked) keys each account holds, kept by CreateKey and RevokeKey in the
-- transaction that changes it: the quota check reads one row instead of counting the account's
-- keys, which cost a scan of every active key of the account on each create.
ALTER TABLE accounts ADD COLUMN active_keys BIGINT NOT NULL DEFAULT 0;

UPDATE accounts
SET active_keys = (
    SELECT COUNT(*)
    FROM api_keys
    WHERE api_keys.account_id = accounts.account_id AND api_keys.revoked_at IS NULL
);
