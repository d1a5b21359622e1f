DROP TRIGGER reminders_push_notify ON reminders;
DROP FUNCTION carnet_push_notify();
DROP TABLE push_jobs;
DROP INDEX reminders_push_pending_idx;
ALTER TABLE reminders DROP COLUMN pushed_for;
