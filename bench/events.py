#!/usr/bin/env python3
"""Figures of the live stream and the webhooks, against a running server (bench/events
starts it). Prints:
  - events/s the stream sustains to N connected clients while consumptions run (wrk at its
    saturating rate), and whether every client received every event, in order;
  - delivery latency p50/p99 of webhooks to a local receiver (commit -> receiver), at a
    paced rate of consumptions;
  - memory per open stream: the server's RSS with M idle streams open, minus without, / M.
Usage: events.py BASE BIN PID [clients] [seconds]
"""
import datetime, http.client, json, os, subprocess, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASE, BIN, PID = sys.argv[1], sys.argv[2], int(sys.argv[3])
CLIENTS = int(sys.argv[4]) if len(sys.argv) > 4 else 100
SECONDS = int(sys.argv[5]) if len(sys.argv) > 5 else 10
HOST, PORT = BASE.removeprefix("http://").split(":")
PORT = int(PORT)


def token(*args):
    return subprocess.check_output([BIN, "token", *args, "--ttl", "2h"], text=True).strip()


def call(method, path, tok, body=None):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    headers = {"authorization": f"Bearer {tok}", "content-type": "application/json"}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]}")
    return json.loads(data) if data else None


def timestamp(rfc3339):
    """Seconds since the epoch of an RFC 3339 UTC time with up to 9 decimals."""
    text = rfc3339.rstrip("Z")
    whole, _, fraction = text.partition(".")
    at = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return at.timestamp() + float("0." + (fraction or "0"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


operator = token("--role", "operator")
org = call("POST", "/api/v1/organizations", operator, {"name": f"Bench {uuid.uuid4().hex[:6]}"})["id"]
account = call("POST", f"/api/v1/organizations/{org}/accounts", operator, {"name": "Bench account"})["id"]
admin = token("--role", "customer_admin", "--org", org)
expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 300 * 86400))
benefit = call("POST", f"/api/v1/accounts/{account}/benefits", operator,
               {"type": "problem_resolution_phone", "quantity": 100_000_000,
                "expires_at": expires})["id"]


class Stream(threading.Thread):
    """One SSE client: counts the events it reads and checks their order."""

    def __init__(self):
        super().__init__(daemon=True)
        self.count, self.last, self.in_order, self.ready = 0, None, True, threading.Event()
        self.stop = False

    def run(self):
        conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
        conn.request("GET", f"/api/v1/organizations/{org}/events",
                     headers={"authorization": f"Bearer {admin}"})
        r = conn.getresponse()
        self.ready.set()
        while not self.stop:
            line = r.fp.readline()
            if not line:
                return
            if line.startswith(b"id: "):
                position = int(line[4:])
                if self.last is not None and position != self.last + 1:
                    self.in_order = False
                self.last = position
                self.count += 1


def wrk(seconds, rate=None, connections=16):
    env = dict(os.environ, BENCH_PATH=f"/api/v1/benefits/{benefit}/consumptions",
               BENCH_METHOD="POST", BENCH_TOKEN=admin, BENCH_RUN=uuid.uuid4().hex[:8],
               BENCH_CONNECTIONS=str(connections))
    if rate:
        env["BENCH_RATE"] = str(rate)
    out = subprocess.check_output(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", "bench/spread.lua", BASE],
        env=env, text=True)
    done = [l for l in out.splitlines() if "requests in" in l][0]
    non2xx = [l for l in out.splitlines() if "Non-2xx" in l]
    return int(done.split()[0]), non2xx


# 0. The same consumptions with no stream open: what the streams are compared with.
alone, _ = wrk(SECONDS)
print(f"consumptions with no stream open: {alone / SECONDS:.0f}/s")

# 1. Events/s to N clients while consumptions run at full speed.
streams = [Stream() for _ in range(CLIENTS)]
for s in streams:
    s.start()
for s in streams:
    s.ready.wait(10)
time.sleep(0.5)
started = time.time()
made, errors = wrk(SECONDS)
# Let the streams drain what was committed.
deadline = time.time() + 30
while time.time() < deadline and min(s.count for s in streams) < made:
    time.sleep(0.1)
drained = time.time() - started
counts = [s.count for s in streams]
print(f"stream: {CLIENTS} clients, {made} consumptions in {SECONDS} s "
      f"({made / SECONDS:.0f}/s, {100 * made / max(alone, 1):.0f}% of the rate with no stream); each client received min {min(counts)} max {max(counts)} "
      f"events, all in order: {all(s.in_order for s in streams)}; "
      f"{min(counts) * CLIENTS / drained:.0f} events/s sent in all; errors: {errors or 'none'}")
for s in streams:
    s.stop = True

# 2. Webhook delivery latency to a local receiver.
received = []


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        at = time.time()
        event = json.loads(body)
        received.append(at - timestamp(event["occurred_at"]))
        self.send_response(204)
        self.end_headers()


receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
partner = call("POST", "/api/v1/partners", operator, {"name": f"Bench partner {uuid.uuid4().hex[:6]}"})["id"]
ptoken = token("--role", "partner", "--partner", partner)
permission = call("POST", "/api/v1/partner-permissions", ptoken,
                  {"organization_id": org, "scopes": ["manage_users"]})["id"]
call("PATCH", f"/api/v1/partner-permissions/{permission}", admin, {"status": "approved"})
call("POST", "/api/v1/partners/me/webhooks", ptoken,
     {"url": f"http://127.0.0.1:{receiver.server_address[1]}/hook", "event_types": ["benefit.changed"]})
RATE = 100
made, errors = wrk(SECONDS, rate=RATE, connections=4)
deadline = time.time() + 30
while time.time() < deadline and len(received) < made:
    time.sleep(0.1)
lat = sorted(received)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(f"webhooks: {len(lat)} of {made} deliveries at {RATE} consumptions/s; latency commit -> "
      f"receiver p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms; errors: {errors or 'none'}")

# 3. Memory per open stream (idle).
M = 1000
time.sleep(1)
before = rss_kib(PID)
idle = [Stream() for _ in range(M)]
for s in idle:
    s.start()
for s in idle:
    s.ready.wait(10)
time.sleep(2)
after = rss_kib(PID)
print(f"memory: RSS {before} KiB with no idle stream, {after} KiB with {M}: "
      f"{(after - before) / M:.1f} KiB per open stream")
