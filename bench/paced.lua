-- wrk script: the request given on the command line, paced so the whole load runs at
-- BENCH_RATE requests/s over BENCH_CONNECTIONS connections (for latency at a fixed rate).
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")

function delay()
  return math.floor(1000 * connections / rate)
end
