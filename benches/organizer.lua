-- wrk script for benches/organizer-churn.sh: many attendees joining and cancelling one event.
--
-- Environment:
--   CARNET_BENCH_TOKENS  a file with one access token per line (one per attendee)
--   CARNET_BENCH_EVENT   the event id
--   CARNET_BENCH_CODE    its join code
-- Each request takes the next attendee of this wrk thread and flips their attendance:
-- POST /v1/events/join when they are out, PATCH /v1/events/{id}/attendance
-- {"status":"cancelled"} when they are in. Every request takes the event's row lock.
-- At the end it prints one machine-readable line that organizer-churn.sh parses:
--   CARNET_BENCH requests=… duration_us=… rps=… p50_us=… p99_us=… non2xx=… socket_errors=…

local event = os.getenv("CARNET_BENCH_EVENT") or ""
local code = os.getenv("CARNET_BENCH_CODE") or ""
local tokens = {}
for line in io.lines(os.getenv("CARNET_BENCH_TOKENS")) do
   if #line > 0 then
      table.insert(tokens, line)
   end
end

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local n_threads = tonumber(os.getenv("CARNET_BENCH_THREADS") or "1")
local counter = 0
local joined = {}
local join_body = string.format('{"code":"%s"}', code)
local attendance = string.format("/v1/events/%s/attendance", event)

request = function()
   -- Thread t takes attendees t, t + n, t + 2n…: no two threads share one.
   local mine = math.floor((#tokens - (tid or 0) - 1) / n_threads) + 1
   local i = (tid or 0) + (counter % mine) * n_threads + 1
   counter = counter + 1
   local headers = {
      ["Authorization"] = "Bearer " .. tokens[i],
      ["Content-Type"] = "application/json",
   }
   if joined[i] then
      joined[i] = false
      return wrk.format("PATCH", attendance, headers, '{"status":"cancelled"}')
   end
   joined[i] = true
   return wrk.format("POST", "/v1/events/join", headers, join_body)
end

function done(summary, latency, requests)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "CARNET_BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration, summary.requests / seconds,
      latency:percentile(50), latency:percentile(99),
      e.status, e.connect + e.read + e.write + e.timeout))
end
