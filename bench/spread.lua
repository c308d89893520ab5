-- wrk script: requests spread uniformly over many resources, as a portal's users are.
-- BENCH_IDS: a file with one id per line; BENCH_TEMPLATE: the path with {id} in it;
-- BENCH_TOKEN; BENCH_METHOD (GET, or POST for a consumption with a fresh Idempotency-Key);
-- BENCH_RATE and BENCH_CONNECTIONS pace the whole load (optional).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local template = os.getenv("BENCH_TEMPLATE")
local token = os.getenv("BENCH_TOKEN")
local method = os.getenv("BENCH_METHOD") or "GET"
local run = os.getenv("BENCH_RUN") or "run"
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
end

function request()
  counter = counter + 1
  local id = ids[math.random(#ids)]
  local path = template:gsub("{id}", id)
  local headers = { ["Authorization"] = "Bearer " .. token }
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = string.format("%s-%d-%d", run, tid or 0, counter)
    return wrk.format("POST", path, headers, '{"quantity":1}')
  end
  return wrk.format("GET", path, headers)
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
if rate and connections and rate > 0 then
  -- Arrivals as a portal's users make them: independent, exponentially spaced with the
  -- mean that gives the rate. A fixed delay keeps every connection in step (they start
  -- together and wait the same), so the load comes as bursts of one request per connection
  -- and the latency measured is the burst's queue, not the server's.
  local mean = 1000 * connections / rate
  function delay()
    return math.floor(-mean * math.log(1 - math.random()))
  end
end
