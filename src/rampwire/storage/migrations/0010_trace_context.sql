-- 0010: trace context. events.trace_context holds the W3C traceparent (and tracestate) of the
-- span that produced the event, written only while tracing is on (NULL otherwise), so a worker
-- in another process continues the trace. endpoints.traceparent: 1 sends a traceparent header
-- naming the attempt's span with each delivery; NULL (every endpoint written before) does not.

ALTER TABLE events ADD COLUMN trace_context TEXT;
ALTER TABLE endpoints ADD COLUMN traceparent INTEGER;
