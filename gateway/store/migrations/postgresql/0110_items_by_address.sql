-- The runs listing's recipient filter (to:) finds an address's items in any case.
CREATE INDEX items_by_address ON items (lower(address));
