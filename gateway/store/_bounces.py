"""Bounces that come back: the message a bounce address names, and the
report kept with what it changed, in one transaction."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.store import BouncedItem, BounceTarget, NewNotice, NewSuppression
from gateway.store._base import Connection, SQLBase
from gateway.store._runs import _count, _history, _refresh
from gateway.store._suppressions import _suppress


class BouncesSQL(SQLBase):
    """Delivery status notifications matched to their items."""

    async def bounce_target(self, message_id: str) -> BounceTarget | None:
        rows = await self._read(
            "SELECT m.id, m.run_id, m.mail_from, m.attempts, r.email_type"
            " FROM messages m JOIN runs r ON r.id = m.run_id WHERE m.id = ?",
            (message_id,),
        )
        if not rows:
            return None
        row = rows[0]
        items = await self._read(
            "SELECT id, address, status FROM items WHERE message_id = ? ORDER BY id",
            (message_id,),
        )
        return BounceTarget(
            message_id=row["id"],
            run_id=row["run_id"],
            email_type=row["email_type"],
            mail_from=row["mail_from"],
            attempts=int(row["attempts"]),
            recipients=[(int(i["id"]), str(i["address"]), str(i["status"])) for i in items],
        )

    async def record_bounce(
        self,
        *,
        message_id: str | None,
        run_id: str | None,
        bounced: Sequence[BouncedItem],
        detail: Mapping[str, Any],
        notices: Sequence[NewNotice] = (),
        suppressions: Sequence[NewSuppression] = (),
    ) -> int:
        now = self.clock()

        async def record(db: Connection) -> int:
            marked = []
            for item in bounced:
                # Only a recipient the upstream took can bounce; one reported
                # twice (two DSNs for one message) is marked once.
                cursor = await db.execute(
                    "UPDATE items SET status = 'bounced', error = ?, updated_at = ?"
                    " WHERE id = ? AND message_id = ? AND status = 'sent' RETURNING address",
                    (item.diagnostic, now, item.item_id, message_id),
                )
                row = await cursor.fetchone()
                if row is not None:
                    marked.append(f"{row['address']}: {item.diagnostic}")
            if marked and run_id is not None:
                await _count(db, run_id, Counter({"bounced": len(marked), "sent": -len(marked)}))
                for line in marked:
                    await _history(db, run_id, now, "bounced", line)
                await db.executemany(
                    "INSERT INTO notices (run_id, kind, payload, created_at, next_attempt_at)"
                    " VALUES (?,?,?,?,?)",
                    [(run_id, n.kind, json.dumps(n.payload), now, now) for n in notices],
                )
                await _suppress(db, suppressions, now, "bounce")
                await _refresh(db, run_id, now)
            await db.execute(
                "INSERT INTO bounce_reports (received_at, message_id, run_id, matched, detail)"
                " VALUES (?,?,?,?,?)",
                (now, message_id, run_id, len(marked), json.dumps(detail, sort_keys=True)),
            )
            return len(marked)

        return await self._write(record, needs_room=True)
