"""The ways in: platform events on the signed webhook, legacy mail on the
SMTP listener. Each checks its input, builds a ``Context`` and hands it to
the entrance; none talks to the store's queue or the upstream itself.

May import: the entrance, billing's read side, settings, content, the store
and the foundations (``gateway.errors``, ``config``, ``addresses``...); never
the faces (admin, cli, daemon).
"""
