-- A platform event's message may be composed after the commit: until then
-- the row keeps what to compose (JSON: email type, template variables,
-- addresses, Message-ID) and an empty content, which the first attempt
-- replaces with the composed message just before DATA.
ALTER TABLE messages ADD COLUMN later TEXT;
