"""Herald's SQL store, composed of one part per aggregate.

Each part is a module of its own (``_queue``, ``_runs``, ``_settings``,
``_templates``, ``_billing``, ``_accounts``, ``_console``, ``_suppressions``, ``_bounces``,
``_retention``, ``_copy``) on the common ground
of ``_base``; a dialect (``_sqlite``, ``_postgres``) supplies transactions,
reads and the claim statement.
"""

from __future__ import annotations

from gateway.store._accounts import AccountsSQL
from gateway.store._base import Connection, Row, migrations
from gateway.store._billing import BillingSQL
from gateway.store._bounces import BouncesSQL
from gateway.store._console import ConsoleSQL
from gateway.store._copy import CopySQL
from gateway.store._queue import QueueSQL
from gateway.store._retention import RetentionSQL
from gateway.store._runs import RunsSQL
from gateway.store._settings import SettingsSQL
from gateway.store._suppressions import SuppressionsSQL
from gateway.store._templates import TemplatesSQL

__all__ = ["Connection", "Row", "SQLStore", "migrations"]


class SQLStore(
    QueueSQL,
    RunsSQL,
    SettingsSQL,
    TemplatesSQL,
    BillingSQL,
    AccountsSQL,
    ConsoleSQL,
    SuppressionsSQL,
    BouncesSQL,
    RetentionSQL,
    CopySQL,
):
    """Everything Herald keeps, in SQL that SQLite and PostgreSQL share."""
