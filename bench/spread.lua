-- wrk script for every load of bench/: requests spread uniformly over many resources, as a
-- portal's users are, or on one path, optionally paced.
-- BENCH_IDS: a file with one id per line, and BENCH_TEMPLATE: the path with {id} in it; or
-- BENCH_PATH: one path; or neither: the URL of the command line, with its -H headers.
-- BENCH_TOKEN; BENCH_METHOD (GET, or POST for a consumption with a fresh Idempotency-Key).
-- BENCH_RATE and BENCH_CONNECTIONS pace the whole load (optional): each connection waits an
-- exponentially distributed time with the mean that gives the rate, so arrivals are
-- independent, as users make them. A fixed wait keeps every connection in step (they start
-- together and wait the same), the load then comes as bursts of one request per connection,
-- and the latency measured is the burst's queue, not the server's (docs/PERFORMANCE.md).
local ids = {}
local ids_file = os.getenv("BENCH_IDS")
if ids_file then
  for line in io.lines(ids_file) do ids[#ids + 1] = line end
end
local template = os.getenv("BENCH_TEMPLATE")
local path = os.getenv("BENCH_PATH")
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

if #ids > 0 or path then
  function request()
    counter = counter + 1
    local target = path or template:gsub("{id}", ids[math.random(#ids)])
    local headers = { ["Authorization"] = "Bearer " .. token }
    if method == "POST" then
      headers["Content-Type"] = "application/json"
      headers["Idempotency-Key"] = string.format("%s-%d-%d", run, tid or 0, counter)
      return wrk.format("POST", target, headers, '{"quantity":1}')
    end
    return wrk.format("GET", target, headers)
  end
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
if rate and connections and rate > 0 then
  local mean = 1000 * connections / rate
  function delay()
    return math.floor(-mean * math.log(1 - math.random()))
  end
end
