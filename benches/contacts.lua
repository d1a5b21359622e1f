-- wrk script for benches/api-load.sh: authenticated contact requests.
--
-- Environment:
--   CARNET_BENCH_TOKEN  access token (sent as `Authorization: Bearer …`)
--   CARNET_BENCH_MODE   `list`   GET the path given on the wrk command line
--                       `create` POST /v1/contacts {"name":"Load Test N"}
-- At the end it prints one machine-readable line that api-load.sh parses:
--   CARNET_BENCH requests=… duration_us=… rps=… p50_us=… p99_us=… non2xx=… socket_errors=…

local token = os.getenv("CARNET_BENCH_TOKEN") or ""
local mode = os.getenv("CARNET_BENCH_MODE") or "list"

wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local counter = 0

if mode == "create" then
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   request = function()
      counter = counter + 1
      -- `tid` is set per thread by setup(); names stay distinct across threads.
      local body = string.format('{"name":"Load Test %d-%d"}', tid or 0, counter)
      return wrk.format("POST", "/v1/contacts", nil, body)
   end
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
