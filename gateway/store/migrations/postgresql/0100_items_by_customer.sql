-- A customer's page lists the definition runs that wrote to it, newest first:
-- found by the customer's items rather than by reading every item.
CREATE INDEX items_by_customer ON items (customer_id, run_id);
