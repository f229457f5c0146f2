"""The domain: pure records and rules, no I/O. Orders and what they hold (money, execution,
payment instructions), the lifecycle and its merge rule, events, the timeline, the fold of a
change into an order held for writing, stuck-order SLAs, deliveries and attempts as records,
API key tokens and scopes, currencies, and JSON in and out of these records (``serde``)."""
