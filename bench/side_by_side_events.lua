-- wrk script for bench/side_by_side.py: POST one Herald event per request,
-- each with an id of its own (Herald sends a repeated id only once, which
-- would measure its duplicate check instead). The first script argument
-- prefixes the ids: wrk ... -s bench/side_by_side_events.lua URL -- PREFIX
-- done() prints one JSON line of counts and latencies (microseconds).
local threads = 0
local number = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  prefix = (args[1] or "evt") .. "_" .. thread_id
end

function request()
  number = number + 1
  local body = string.format(
    '{"id": "%s_%d", "type": "account.created", "occurred_at": "2026-11-01T10:00:00Z",'
    .. ' "recipient": {"kind": "customer", "id": "cus_%d", "name": "Ada Lovelace",'
    .. ' "email": "ada@example.com"}, "data": {}}',
    prefix, number, number)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d,'
    .. ' "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d,'
    .. ' "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
