"""The queue and delivery: the queue manager leases due messages and hands
them to the relay, the only code that talks to the upstream (routing, the
session pool, the SMTP transaction, the Maildir capture, and the diagnosis
and test sends); failure reports (callbacks and bounces) are made here and
enter through the entrance. Only this package imports aiosmtplib.

May import: the entrance, content, settings, the store and the foundations;
never the ways in, billing or the faces.
"""
