"""Template versions: each save, rollback and reset of an email type's template."""

from __future__ import annotations

from gateway.errors import ConflictError, NotFoundError
from gateway.store import TemplateAction, TemplateParts, TemplateVersion
from gateway.store._base import Row, SQLBase
from gateway.store._settings import _audit


class TemplatesSQL(SQLBase):
    """The versions of edited templates."""

    async def add_template_version(
        self,
        email_type: str,
        action: TemplateAction,
        parts: TemplateParts | None,
        note: str = "",
        *,
        actor: str = "",
    ) -> TemplateVersion:
        # Two saves at once (two nodes, say) may pick the same number; the
        # primary key refuses the second, which then takes the next one.
        for attempt in range(5):
            try:
                return await self._add_template_version(email_type, action, parts, note, actor)
            except ConflictError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def _add_template_version(
        self,
        email_type: str,
        action: TemplateAction,
        parts: TemplateParts | None,
        note: str,
        actor: str,
    ) -> TemplateVersion:
        now = self.clock()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT coalesce(max(version), 0) FROM template_versions WHERE email_type = ?",
                (email_type,),
            )
            row = await cursor.fetchone()
            previous = int(row[0]) if row else 0
            version = previous + 1
            await db.execute(
                "INSERT INTO template_versions (email_type, version, action, subject, html, text,"
                " note, created_at, actor) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    email_type,
                    version,
                    action,
                    parts.subject if parts else None,
                    parts.html if parts else None,
                    parts.text if parts else None,
                    note,
                    now,
                    actor,
                ),
            )
            # The texts live in their version; the audit log says which
            # version replaced which, and why.
            await _audit(
                db,
                now,
                actor,
                f"templates/{email_type}",
                {"version": previous} if previous else None,
                {"version": version, "action": action, "note": note},
            )
        return TemplateVersion(email_type, version, action, parts, note, now, actor)

    async def template_versions(
        self, email_type: str, *, before: int | None = None, limit: int | None = None
    ) -> list[TemplateVersion]:
        where = "email_type = ?"
        params: list[str | int] = [email_type]
        if before is not None:
            where += " AND version < ?"
            params.append(before)
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(limit)
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions WHERE {where}"  # noqa: S608 -- fixed clauses, values are bound
            f" ORDER BY version DESC{tail}",
            tuple(params),
        )
        return [_version(row) for row in rows]

    async def template_version(self, email_type: str, version: int) -> TemplateVersion:
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions"  # noqa: S608 -- a fixed column list
            " WHERE email_type = ? AND version = ?",
            (email_type, version),
        )
        if not rows:
            raise NotFoundError(f"no version {version} of the {email_type} template")
        return _version(rows[0])

    async def latest_template_versions(self) -> dict[str, TemplateVersion]:
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions AS t"  # noqa: S608 -- a fixed column list
            " WHERE version = (SELECT max(version) FROM template_versions"
            " WHERE email_type = t.email_type)"
        )
        return {row["email_type"]: _version(row) for row in rows}

    async def current_template(self, email_type: str) -> TemplateVersion | None:
        rows = await self._read(
            f"SELECT {_VERSION_COLUMNS} FROM template_versions WHERE email_type = ?"  # noqa: S608 -- a fixed column list
            " ORDER BY version DESC LIMIT 1",
            (email_type,),
        )
        current = _version(rows[0]) if rows else None
        return current if current is not None and current.parts is not None else None


_VERSION_COLUMNS = "email_type, version, action, subject, html, text, note, created_at, actor"


def _version(row: Row) -> TemplateVersion:
    parts = (
        TemplateParts(subject=row["subject"], html=row["html"], text=row["text"] or "")
        if row["action"] != "reset"
        else None
    )
    return TemplateVersion(
        email_type=row["email_type"],
        version=row["version"],
        action=row["action"],
        parts=parts,
        note=row["note"],
        created_at=row["created_at"],
        actor=row["actor"],
    )
