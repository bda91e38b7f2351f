-- A second counter beside saved_version's: every change of the suppression
-- list moves it, in the change's own transaction, so that the queue may know
-- the list is empty (or unchanged) without reading it for each delivery. It
-- is a counter of its own so that a learned suppression does not make every
-- node read its settings and templates again.
ALTER TABLE saved_version ADD COLUMN suppressions BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION suppression_version_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE saved_version SET suppressions = suppressions + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
CREATE TRIGGER suppressions_changed AFTER INSERT OR UPDATE OR DELETE ON suppressions
    FOR EACH STATEMENT EXECUTE FUNCTION suppression_version_moved();
