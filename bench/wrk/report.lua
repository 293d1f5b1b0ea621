-- Shared by trigger.lua and paced.lua (loaded with dofile from $BENCH_WRK_DIR, which
-- bench/harness.py sets): the one BENCH_JSON line a run ends with.
-- Every thread keeps `created` (201s) and `other` (any other status) globals.

function bench_report(threads, summary, latency)
  local created, other = 0, 0
  for _, thread in ipairs(threads) do
    created = created + thread:get("created")
    other = other + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "created": %d, "other_status": %d, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, created, other,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
