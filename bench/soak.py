#!/usr/bin/env python3
"""The soak of the portal's mixed workload against a running server (bench/soak starts it):
N purchasing accounts with 4 benefits each; "your benefits" read spread over the accounts and
consumptions spread over one benefit per account, both paced, for DURATION seconds; the
server's resident memory sampled every 10 s. At the end: errors (non-2xx, socket errors) must
be 0, memory flat after the warm-up, and every benefit's ledger must agree with its figures,
their `used` summing to the consumptions answered 201 (plus at most one a connection still in
flight when wrk stopped). Exit 1 when one of these fails.
Usage: soak.py BASE BIN SERVER_PID DURATION_S ACCOUNTS READ_RATE WRITE_RATE
"""
import concurrent.futures, http.client, json, os, subprocess, sys, tempfile, threading, time, uuid

BASE, BIN, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
DURATION, ACCOUNTS, READ_RATE, WRITE_RATE = (int(a) for a in sys.argv[4:8])
HOST, PORT = BASE.removeprefix("http://").split(":")
TYPES = ["problem_resolution_phone", "problem_resolution_web", "planning_services", "e_learning"]
WARMUP = min(60, DURATION // 5)
WRITE_CONNECTIONS = 16
WORK = tempfile.mkdtemp()
local = threading.local()


def token(*args):
    return subprocess.check_output([BIN, "token", *args, "--ttl", "3h"], text=True).strip()


def call(method, path, tok, body=None):
    if getattr(local, "conn", None) is None:
        local.conn = http.client.HTTPConnection(HOST, int(PORT), timeout=30)
    headers = {"authorization": f"Bearer {tok}", "content-type": "application/json"}
    try:
        local.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = local.conn.getresponse()
        data = r.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        local.conn = None  # an idle kept-alive connection the server closed: once more
        return call(method, path, tok, body)
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]}")
    return json.loads(data) if data else None


def rss_mib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


operator = token("--role", "operator")
org = call("POST", "/api/v1/organizations", operator, {"name": f"Soak {uuid.uuid4().hex[:6]}"})["id"]
admin = token("--role", "customer_admin", "--org", org)


def account(n):
    a = call("POST", f"/api/v1/organizations/{org}/accounts", operator, {"name": f"Account {n:05}"})["id"]
    ids = [call("POST", f"/api/v1/accounts/{a}/benefits", operator,
                {"type": t, "quantity": 1_000_000_000, "expires_at": "2099-01-01T00:00:00Z"})["id"]
           for t in TYPES]
    return a, ids[0]


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    made = list(pool.map(account, range(ACCOUNTS)))
for name, ids in [("accounts", [a for a, _ in made]), ("one", [b for _, b in made])]:
    with open(f"{WORK}/{name}", "w") as f:
        f.write("\n".join(ids) + "\n")
print(f"seeded {ACCOUNTS} accounts x {len(TYPES)} benefits; soak {DURATION} s: reads {READ_RATE}/s, "
      f"consumptions {WRITE_RATE}/s, memory every 10 s", flush=True)


def wrk(ids, template, rate, connections, method="GET"):
    env = dict(os.environ, BENCH_TOKEN=admin, BENCH_IDS=f"{WORK}/{ids}", BENCH_TEMPLATE=template,
               BENCH_METHOD=method, BENCH_RATE=str(rate), BENCH_CONNECTIONS=str(connections),
               BENCH_RUN=uuid.uuid4().hex[:8])
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{DURATION}s", "--latency", "-s",
                             "bench/spread.lua", BASE], env=env, stdout=subprocess.PIPE, text=True)


reads = wrk("accounts", "/api/v1/accounts/{id}/benefits", READ_RATE, 32)
writes = wrk("one", "/api/v1/benefits/{id}/consumptions", WRITE_RATE, WRITE_CONNECTIONS, "POST")
samples, started = [], time.time()
while time.time() - started < DURATION:
    time.sleep(10 - (time.time() - started) % 10)
    samples.append((round(time.time() - started), rss_mib()))
    print(f"  {samples[-1][0]:>4} s  RSS {samples[-1][1]:.1f} MiB", flush=True)
outputs = {"reads": reads.communicate()[0], "consumptions": writes.communicate()[0]}


def summary(out):
    lines = out.splitlines()
    done = int([l for l in lines if " requests in " in l][0].split()[0])
    non2xx = sum(int(l.split()[-1]) for l in lines if "Non-2xx" in l)
    sockets = sum(int(x.split()[-1].rstrip(",")) for l in lines if "Socket errors" in l
                  for x in l.split(":", 1)[1].split(","))
    p99 = [l.split()[1] for l in lines if l.strip().startswith("99%")]
    return done, non2xx, sockets, p99[0] if p99 else "?"


failed = []
answered = {}
for name, out in outputs.items():
    done, non2xx, sockets, p99 = summary(out)
    answered[name] = done - non2xx
    print(f"{name}: {done} answered ({done / DURATION:.0f}/s), non-2xx {non2xx}, socket errors {sockets}, "
          f"p99 {p99}", flush=True)
    if non2xx or sockets:
        failed.append(f"{name}: errors")

after = [m for t, m in samples if t >= WARMUP]
base, last = after[0], after[len(after) * 2 // 3:]
growth = max(last) - base
flat = growth <= max(0.1 * base, 8)
print(f"memory after the {WARMUP} s warm-up: {base:.1f} MiB; highest in the last third {max(last):.1f} MiB "
      f"(+{growth:.1f} MiB): {'flat' if flat else 'GROWING'}", flush=True)
if not flat:
    failed.append("memory grows")

with concurrent.futures.ThreadPoolExecutor(8) as pool:
    calcs = list(pool.map(lambda b: call("GET", f"/api/v1/benefits/{b}/calculation", admin), [b for _, b in made]))
used = sum(c["used"] for c in calcs)
agree = all(c["ledger_agrees"] for c in calcs)
# wrk stops at its deadline without reading the answers still on their way: each of its
# connections may have one consumption the server committed and wrk never counted (a soak on
# PostgreSQL once ended with used one above the count). So nothing answered 201 may be
# missing, and at most one a connection may be uncounted.
uncounted = used - answered["consumptions"]
print(f"ledger: {sum(c['ledger_agrees'] for c in calcs)}/{len(calcs)} benefits agree; used sums to {used}, "
      f"consumptions answered 201: {answered['consumptions']} (in flight when wrk stopped: {uncounted}, "
      f"at most {WRITE_CONNECTIONS})", flush=True)
if not agree or not 0 <= uncounted <= WRITE_CONNECTIONS:
    failed.append("ledger")
print("SOAK " + ("PASSED" if not failed else "FAILED: " + ", ".join(failed)), flush=True)
sys.exit(1 if failed else 0)
