-- A second counter beside saved_version's: every change of the suppression
-- list moves it, in the change's own transaction, so that the queue may know
-- the list is empty (or unchanged) without reading it for each delivery. It
-- is a counter of its own so that a learned suppression does not make every
-- process read its settings and templates again.
ALTER TABLE saved_version ADD COLUMN suppressions INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER suppressions_inserted AFTER INSERT ON suppressions
BEGIN UPDATE saved_version SET suppressions = suppressions + 1 WHERE id = 1; END;
CREATE TRIGGER suppressions_updated AFTER UPDATE ON suppressions
BEGIN UPDATE saved_version SET suppressions = suppressions + 1 WHERE id = 1; END;
CREATE TRIGGER suppressions_deleted AFTER DELETE ON suppressions
BEGIN UPDATE saved_version SET suppressions = suppressions + 1 WHERE id = 1; END;
