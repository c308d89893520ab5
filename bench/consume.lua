-- wrk script: POST one consumption per request, each with a fresh Idempotency-Key.
-- Reads BENCH_PATH, BENCH_TOKEN and BENCH_RUN from the environment.
local path = os.getenv("BENCH_PATH")
local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN") or "run"
local threads = 0
local counter = 0


function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = string.format("%s-%d-%d", run, tid, counter),
  }
  return wrk.format("POST", path, headers, '{"quantity":1}')
end

-- With BENCH_RATE (requests/s over all connections) and BENCH_CONNECTIONS set, each
-- connection waits between requests so the whole load runs at that rate.
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
if rate and connections and rate > 0 then
  function delay()
    return math.floor(1000 * connections / rate)
  end
end
