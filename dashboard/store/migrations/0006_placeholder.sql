-- Placeholder: migration 0006 belongs to the team-management branch (s28b-dash-csv-team, 0006_team_members.sql);
-- this file only keeps the numbering gapless on the notifications branch. Drop it when merging that branch.
SELECT 1;
