-- The change feed every replica polls (revocations and account suspensions, a few rows among
-- every key creation and access change): indexed on their own, so a poll reads the changes
-- after its position instead of every audit event since the last change. A partial index: the
-- audit rows of other actions, nearly all of them, never enter it and cost it nothing to write.
-- The predicate must stay the one `Store::changes_since` filters with, or the planner cannot
-- use the index.
CREATE INDEX audit_events_changes ON audit_events (id)
    WHERE action IN ('key.revoked', 'account.api_access_disabled');
