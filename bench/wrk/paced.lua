-- wrk script: POST triggers at a fixed total rate (an open-loop schedule, like wrk2's -R).
--   BENCH_AUTH     the Authorization header value ("Key clk_…")
--   BENCH_RATE     requests per second over all threads
--   BENCH_THREADS  the -t given to wrk (each thread paces rate/threads)
-- The next request of a thread is due one interval after the previous one was
-- due, whatever the answers' latency: a slow server gets a backlog, not a
-- lighter load (until every connection is busy).
-- Every body carries "sent_us" (send time, µs since the epoch) in its context;
-- the bench templates pass it through to the SMTP and webhook sinks.
-- done() prints one BENCH_JSON line (report.lua).

local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local threads = {}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = os.getenv("BENCH_AUTH")}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  created, other = 0, 0
  interval_us = 1000000 * tonumber(os.getenv("BENCH_THREADS")) / tonumber(os.getenv("BENCH_RATE"))
  next_due = nil
end

function delay()
  local now = now_us()
  if next_due == nil then next_due = now end
  local wait = next_due - now
  next_due = next_due + interval_us
  if wait < 0 then return 0 end
  return math.floor(wait / 1000)
end

function request()
  local body = string.format(
    '{"context": {"order_id": "A1", "amount": "10.00", "customer": {"id": 42, "tier": "gold"}, "sent_us": %.0f}, "options": {}}',
    now_us())
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  bench_report(threads, summary, latency)
end
