#!/usr/bin/env python3
"""The portal's workload against a running server (bench/portal starts it): N purchasing
accounts of one organization with 4 benefits each, "your benefits" read spread uniformly over
the accounts with one administrator's token, alone and with a trickle of consumptions spread
over the benefits, consumptions spread over one benefit per account, the static route, and on
PostgreSQL pgbench's ceilings for the same work on the same server in the same run, each
taken twice, right beside the load it is compared with. Prints one line per figure. Usage: portal.py BASE BIN DURATION_S ACCOUNTS [PG_URL]
"""
import concurrent.futures, http.client, json, os, random, subprocess, sys, tempfile, threading, time, uuid

BASE, BIN, DURATION, ACCOUNTS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
PG = sys.argv[5] if len(sys.argv) > 5 else None
HOST, PORT = BASE.removeprefix("http://").split(":")
PORT = int(PORT)
CONNECTIONS = 64
TYPES = ["problem_resolution_phone", "problem_resolution_web", "planning_services", "e_learning"]
METERED = {"problem_resolution_phone", "problem_resolution_web", "planning_services"}
WORK = tempfile.mkdtemp()


def token(*args):
    return subprocess.check_output([BIN, "token", *args, "--ttl", "2h"], text=True).strip()


local = threading.local()


def call(method, path, tok, body=None, retry=True):
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    headers = {"authorization": f"Bearer {tok}", "content-type": "application/json"}
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        data = r.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        # The server closed an idle kept-alive connection: once more on a new one.
        local.conn = None
        if not retry:
            raise
        return call(method, path, tok, body, retry=False)
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]}")
    return json.loads(data) if data else None


operator = token("--role", "operator")
org = call("POST", "/api/v1/organizations", operator, {"name": f"Portal {uuid.uuid4().hex[:6]}"})["id"]
admin = token("--role", "customer_admin", "--org", org)


def account(n):
    a = call("POST", f"/api/v1/organizations/{org}/accounts", operator, {"name": f"Account {n:05}"})["id"]
    benefits = {}
    for t in TYPES:
        quantity = 1_000_000
        benefits[t] = call("POST", f"/api/v1/accounts/{a}/benefits", operator,
                           {"type": t, "quantity": quantity, "expires_at": "2099-01-01T00:00:00Z"})["id"]
    return a, benefits


started = time.time()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    made = list(pool.map(account, range(ACCOUNTS)))
accounts = [a for a, _ in made]
metered = [b[t] for _, b in made for t in METERED]
one_per_account = [b["problem_resolution_phone"] for _, b in made]
print(f"seeded {ACCOUNTS} accounts x {len(TYPES)} benefits in {time.time() - started:.0f} s", flush=True)
for name, ids in [("accounts", accounts), ("one", one_per_account)]:
    with open(f"{WORK}/{name}", "w") as f:
        f.write("\n".join(ids) + "\n")


def wrk(target, seconds=DURATION, latency=False, **env):
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    if latency:
        args.append("--latency")
    e = dict(os.environ, BENCH_TOKEN=admin, BENCH_CONNECTIONS=str(CONNECTIONS), BENCH_RUN=uuid.uuid4().hex[:8])
    e.update({k: str(v) for k, v in env.items()})
    if target == "static":
        args.append(f"{BASE}/health/live")
    else:
        args += ["-s", "bench/spread.lua", BASE]
    out = subprocess.check_output(args, env=e, text=True)
    rate = float([l for l in out.splitlines() if l.startswith("Requests/sec")][0].split()[1])
    non2xx = [l.split()[-1] for l in out.splitlines() if "Non-2xx" in l]
    pct = {}
    for l in out.splitlines():
        parts = l.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            v = parts[1]
            ms = float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-2]) if v.endswith("ms") else float(v[:-1]) * 1000
            pct[parts[0]] = ms
    return rate, (non2xx[0] if non2xx else "0"), pct


LIST = dict(BENCH_IDS=f"{WORK}/accounts", BENCH_TEMPLATE="/api/v1/accounts/{id}/benefits")
CONSUME = dict(BENCH_IDS=f"{WORK}/one", BENCH_TEMPLATE="/api/v1/benefits/{id}/consumptions", BENCH_METHOD="POST")


class Trickle(threading.Thread):
    """Consumptions spread over the metered benefits, at `rate` a second."""

    def __init__(self, rate):
        super().__init__(daemon=True)
        self.rate, self.stop, self.made, self.failed = rate, False, 0, 0

    def run(self):
        next_at = time.time()
        while not self.stop:
            b = random.choice(metered)
            try:
                call("POST", f"/api/v1/benefits/{b}/consumptions", admin, {"quantity": 1})
                self.made += 1
            except Exception:
                self.failed += 1
            next_at += 1 / self.rate
            time.sleep(max(0, next_at - time.time()))


if PG:
    with open(f"{WORK}/ids.sql", "w") as f:
        f.write("SET client_min_messages = warning;\n"
                "CREATE TABLE IF NOT EXISTS bench_accounts (n int PRIMARY KEY, id text NOT NULL);\n"
                "CREATE TABLE IF NOT EXISTS bench_benefits (n int PRIMARY KEY, id text NOT NULL);\n"
                "CREATE TABLE IF NOT EXISTS bench_ledger (benefit_id text, amount bigint, at timestamptz);\n"
                "TRUNCATE bench_accounts, bench_benefits;\n"
                # pgbench's write updates a copy of the benefits, the same rows with the same
                # indexes: it runs between our consumption loads, and must not move the real
                # benefits under the server (its ledgers would then disagree).
                "DROP TABLE IF EXISTS bench_benefit_rows;\n"
                "CREATE TABLE bench_benefit_rows (LIKE benefits INCLUDING ALL);\n"
                "INSERT INTO bench_benefit_rows SELECT * FROM benefits;\n")
        for i, a in enumerate(accounts):
            f.write(f"INSERT INTO bench_accounts VALUES ({i + 1}, '{a}');\n")
        for i, b in enumerate(one_per_account):
            f.write(f"INSERT INTO bench_benefits VALUES ({i + 1}, '{b}');\n")
    subprocess.check_call(["psql", "-q", PG, "-f", f"{WORK}/ids.sql"], stdout=subprocess.DEVNULL)
    # What autovacuum does on a production server within a minute of such a load: this
    # machine's PostgreSQL runs with autovacuum off (CI's setting), so the tables just filled
    # would keep no statistics and every plan, ours and pgbench's alike, would be a guess.
    subprocess.check_call(["psql", "-q", PG, "-c", "ANALYZE"], stdout=subprocess.DEVNULL)
    with open(f"{WORK}/read.sql", "w") as f:
        f.write(f"\\set n random(1, {ACCOUNTS})\n"
                "SELECT b.* FROM benefits b WHERE b.account_id = (SELECT id FROM bench_accounts WHERE n = :n);\n")
    with open(f"{WORK}/write.sql", "w") as f:
        f.write(f"\\set n random(1, {ACCOUNTS})\n"
                "BEGIN;\n"
                "UPDATE bench_benefit_rows SET used = used + 1, version = version + 1 "
                "WHERE id = (SELECT id FROM bench_benefits WHERE n = :n) AND used + 1 <= quantity;\n"
                "INSERT INTO bench_ledger VALUES ((SELECT id FROM bench_benefits WHERE n = :n), 1, now());\n"
                "COMMIT;\n")

    def pgbench(script):
        out = subprocess.check_output(["pgbench", "-n", "-M", "prepared", f"-c{CONNECTIONS}", "-j2",
                                       f"-T{DURATION}", "-f", script, PG], text=True, stderr=subprocess.DEVNULL)
        return float([l for l in out.splitlines() if l.startswith("tps = ")][0].split()[2])

    def pgbench_paced(script, rate):
        """p50 and p99 (ms) of pgbench's transactions arriving at `rate` a second (Poisson, as
        pgbench -R schedules them), from its per-transaction log: the machine's own floor for
        a latency at that rate."""
        prefix = f"{WORK}/pgbench-log"
        subprocess.check_call(["pgbench", "-n", "-M", "prepared", f"-c{CONNECTIONS}", "-j2",
                               f"-T{DURATION}", f"-R{rate}", "--log", f"--log-prefix={prefix}",
                               "-f", script, PG], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        latencies = []
        for name in os.listdir(WORK):
            if name.startswith("pgbench-log"):
                with open(f"{WORK}/{name}") as f:
                    latencies += [int(line.split()[2]) / 1000 for line in f if line.strip()]
                os.remove(f"{WORK}/{name}")
        latencies.sort()
        return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


# Warm: every account read once (a server learns each account's organization once).
wrk("list", seconds=min(3, DURATION), **LIST)
# On PostgreSQL each of our loads that is compared with a pgbench ceiling runs twice, each
# time right beside that ceiling (ours, pgbench's, ours, pgbench's): this machine's speed
# drifts by tens of percent within minutes, and a ratio of two loads taken minutes apart
# measured the drift as much as the server. The ratio is of the sums. CI's short run (loads
# under 3 s, figures only) takes each once.
PAIRS = 2 if PG and DURATION >= 3 else 1
# The static route, too, is measured right before each load whose share of it is reported.
statics, alones, reads = [], [], []
for _ in range(PAIRS):
    statics.append(wrk("static")[0])
    alone, err, _ = wrk("list", **LIST)
    alones.append(alone)
    if PG:
        reads.append(pgbench(f"{WORK}/read.sql"))
static, alone = sum(statics) / len(statics), sum(alones) / len(alones)
print(f"static route /health/live: {static:.0f} req/s (runs {' '.join(f'{x:.0f}' for x in statics)})", flush=True)
print(f"your benefits, spread over {ACCOUNTS} accounts, reads only: {alone:.0f} req/s = "
      f"{100 * alone / static:.0f}% of static (non-2xx {err}; runs {' '.join(f'{a:.0f}' for a in alones)})",
      flush=True)
static_mixed = wrk("static")[0]
trickle = Trickle(20)
trickle.start()
mixed, err, _ = wrk("list", **LIST)
trickle.stop = True
trickle.join()
print(f"same, while {trickle.made / DURATION:.0f} consumptions/s run: {mixed:.0f} req/s = "
      f"{100 * mixed / static_mixed:.0f}% of the static route's {static_mixed:.0f} req/s measured just before "
      f"(target >= 50%; non-2xx {err}, trickle failures {trickle.failed})", flush=True)
spreads, writes = [], []
for _ in range(PAIRS):
    spread, err, _ = wrk("consume", **CONSUME)
    spreads.append(spread)
    if PG:
        writes.append(pgbench(f"{WORK}/write.sql"))
spread = sum(spreads) / len(spreads)
print(f"consumptions spread over {ACCOUNTS} benefits: {spread:.0f} req/s (non-2xx {err}; "
      f"runs {' '.join(f'{c:.0f}' for c in spreads)})", flush=True)
half_list, _, p_list = wrk("list", latency=True, BENCH_RATE=int(mixed / 2), **LIST)
print(f"your benefits at half its saturating rate ({int(mixed / 2)} req/s, achieved {half_list:.0f}): "
      f"p50 {p_list.get('50%', 0):.2f} ms, p99 {p_list.get('99%', 0):.2f} ms", flush=True)
half_c, _, p_c = wrk("consume", latency=True, BENCH_RATE=int(spread / 2), **CONSUME)
print(f"consumptions at half their saturating rate ({int(spread / 2)} req/s, achieved {half_c:.0f}): "
      f"p50 {p_c.get('50%', 0):.2f} ms, p99 {p_c.get('99%', 0):.2f} ms", flush=True)
agree = all(call("GET", f"/api/v1/benefits/{b}/calculation", admin)["ledger_agrees"]
            for b in random.sample(one_per_account, 20))
print(f"ledger agrees (20 benefits sampled): {agree}", flush=True)

if PG:
    read, write = sum(reads) / len(reads), sum(writes) / len(writes)
    floor50, floor99 = pgbench_paced(f"{WORK}/write.sql", int(spread / 2))
    print(f"pgbench's write transaction at the consumptions' half rate ({int(spread / 2)}/s): "
          f"p50 {floor50:.2f} ms, p99 {floor99:.2f} ms (this machine's floor for that figure; "
          f"consumptions: p50 {p_c.get('50%', 0):.2f} ms, p99 {p_c.get('99%', 0):.2f} ms)", flush=True)
    pairs = lambda ours, theirs: ", ".join(f"{o / t:.0%}" for o, t in zip(ours, theirs))
    print(f"pgbench one-SELECT read of a random account's benefits: {read:.0f} tps "
          f"(runs {' '.join(f'{r:.0f}' for r in reads)}); the list (reads only) = {100 * alone / read:.0f}% of it "
          f"(each pair: {pairs(alones, reads)}; target >= 50% with KEPT_ANSWERS=0)", flush=True)
    print(f"pgbench BEGIN; conditional UPDATE; INSERT; COMMIT: {write:.0f} tps "
          f"(runs {' '.join(f'{w:.0f}' for w in writes)}); spread consumptions = {100 * spread / write:.0f}% of it "
          f"(each pair: {pairs(spreads, writes)}; target >= 60%)", flush=True)
    print(f"PG_CEILINGS {read:.0f} {write:.0f}")
