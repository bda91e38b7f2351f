"""Billing: customers and their clusters, message definitions, batches of
invoices and the runs that send them, and their schedules. A run's messages
enter the queue through the entrance like every other producer's.

May import: the entrance, content, settings, the store and the foundations;
never the ways in, the queue or the faces.
"""
