-- One counter that every change of the saved settings, of a sender or of a
-- template version moves, in the transaction that makes the change, so that a
-- process may keep what it read and check one row before it trusts it.
CREATE TABLE saved_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO saved_version (id, version) VALUES (1, 0);
CREATE FUNCTION saved_version_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE saved_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION saved_version_moved();
CREATE TRIGGER template_versions_changed AFTER INSERT OR UPDATE OR DELETE ON template_versions
    FOR EACH STATEMENT EXECUTE FUNCTION saved_version_moved();
CREATE TRIGGER senders_changed AFTER INSERT OR UPDATE OR DELETE ON senders
    FOR EACH STATEMENT EXECUTE FUNCTION saved_version_moved();
