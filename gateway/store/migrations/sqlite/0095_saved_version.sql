-- One counter that every change of the saved settings, of a sender or of a
-- template version moves, in the transaction that makes the change, so that a
-- process may keep what it read and check one row before it trusts it.
CREATE TABLE saved_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO saved_version (id, version) VALUES (1, 0);
CREATE TRIGGER settings_inserted AFTER INSERT ON settings
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER settings_updated AFTER UPDATE ON settings
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER settings_deleted AFTER DELETE ON settings
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER template_versions_inserted AFTER INSERT ON template_versions
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER template_versions_deleted AFTER DELETE ON template_versions
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER senders_inserted AFTER INSERT ON senders
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER senders_updated AFTER UPDATE ON senders
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER senders_deleted AFTER DELETE ON senders
BEGIN UPDATE saved_version SET version = version + 1 WHERE id = 1; END;
