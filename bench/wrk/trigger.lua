-- wrk script: POST the bench trigger body as fast as the connections allow.
--   BENCH_AUTH     the Authorization header value ("Key clk_…"); unset: none
--   BENCH_IDS_DIR  write the occurrence id of every 201 to $BENCH_IDS_DIR/ids.txt
--   BENCH_QUOTA    stop a thread once it has this many answers (a fixed number of triggers);
--                  it then creates $BENCH_DONE_DIR/done-<thread> (wrk itself runs until
--                  its duration is over or it gets SIGINT: the caller sends that)
-- done() prints one line: BENCH_JSON {requests, duration_us, created, other_status, errors, p50_us, …} (report.lua)

wrk.method = "POST"
wrk.body = '{"context": {"order_id": "A1", "amount": "10.00", "customer": {"id": 42, "tier": "gold"}}, "options": {}}'
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BENCH_AUTH") then
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end

dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  created, other, answered = 0, 0, 0
  ids = {}
  keep_ids = os.getenv("BENCH_IDS_DIR") ~= nil
  quota = tonumber(os.getenv("BENCH_QUOTA") or "")
end

function response(status, headers, body)
  answered = answered + 1
  if status == 201 then
    created = created + 1
    if keep_ids then
      ids[#ids + 1] = string.match(body, '"occurrence"%s*:%s*"([^"]+)"') or "?"
    end
  else
    other = other + 1
  end
  if quota and answered == quota then
    local marker = io.open(os.getenv("BENCH_DONE_DIR") .. "/done-" .. number, "w")
    marker:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local dir = os.getenv("BENCH_IDS_DIR")
  if dir then
    local out = io.open(dir .. "/ids.txt", "w")
    for _, thread in ipairs(threads) do
      for _, id in ipairs(thread:get("ids")) do out:write(id, "\n") end
    end
    out:close()
  end
  bench_report(threads, summary, latency)
end
