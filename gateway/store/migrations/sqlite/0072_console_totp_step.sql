-- RFC 6238 §5.2: a TOTP code is taken once. The time step of the last code
-- a user signed in with; a code of that step or an earlier one is refused.
ALTER TABLE console_users ADD COLUMN totp_step INTEGER;
