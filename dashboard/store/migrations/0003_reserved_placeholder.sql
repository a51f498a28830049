-- PLACEHOLDER for the branch s28-dash-admin only: migration numbers must have no gap, and 0003 belongs to another
-- branch of this session. At merge, delete this file and keep the real 0003 (no deployed database has applied it).
SELECT 1;
