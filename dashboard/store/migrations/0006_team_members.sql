-- Team management (docs/dashboard.md, "Team"): an owner may remove a member, so an invitation outlives the
-- member who sent it (its invited_by becomes NULL). Forward-only.

ALTER TABLE dashboard.invitations ALTER COLUMN invited_by DROP NOT NULL;
ALTER TABLE dashboard.invitations DROP CONSTRAINT invitations_invited_by_fkey;
ALTER TABLE dashboard.invitations
    ADD CONSTRAINT invitations_invited_by_fkey FOREIGN KEY (invited_by) REFERENCES dashboard.users (id)
    ON DELETE SET NULL;
