-- The admin key role `dashboard` (ledger/domain/credentials.py ADMIN_ROLES): the dashboard's own admin key may call
-- exactly the admin methods the dashboard calls (ledger/auth.py DASHBOARD_KEY_METHODS), not the whole admin API.
-- Only widens the check: every stored key stays valid.
ALTER TABLE ledger.admin_keys DROP CONSTRAINT admin_keys_roles_known;
ALTER TABLE ledger.admin_keys ADD CONSTRAINT admin_keys_roles_known
    CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['admin', 'operator', 'viewer', 'dashboard']::text[]);
