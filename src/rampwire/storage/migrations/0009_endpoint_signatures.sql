-- 0009: how a standard endpoint is signed: "v1" (HMAC with its secrets), "v1a" (rampwire's
-- ed25519 key) or "v1,v1a"; NULL is v1, so every endpoint written before reads as before. The
-- ed25519 keys live in signing_keys beside the RSA key (algorithm EdDSA): no change there.

ALTER TABLE endpoints ADD COLUMN signatures TEXT;
