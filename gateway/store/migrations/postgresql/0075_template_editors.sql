-- Who saved each template version (the audit log's actor: a console user,
-- an admin token or a CLI user); empty for versions saved before this was kept.
ALTER TABLE template_versions ADD COLUMN actor TEXT NOT NULL DEFAULT '';
