"""The abuse suite: replays each finding of the internet-readiness review against the real
binary and asserts it is closed. Prints what it sent and saw. Usage: abuse.py WORKDIR"""

import base64
import hashlib
import hmac
import json
import os
import random
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "resilience"))
from common import ACCOUNT, BIN, ORG, SECRET, Server, call, env, new_key, token  # noqa: E402

WORK = sys.argv[1]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
figures = []


def figure(name, value):
    figures.append((name, value))
    print(f"  {name}: {value}", flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header_text, claims_text):
    """An HS256 token signed with the server's secret over exactly these texts."""
    message = f"{b64url(header_text.encode())}.{b64url(claims_text.encode())}"
    signature = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).digest()
    return f"{message}.{b64url(signature)}"


def claims(**overrides):
    now = int(time.time())
    c = {"sub": "abuse", "role": "operator", "iss": "sa-benefits", "aud": "sa-benefits-api",
         "iat": now, "exp": now + 600}
    c.update(overrides)
    return c


def raw_request(port, method, path, headers=(), timeout=10):
    """One HTTP/1.1 request on its own socket (any method name); the status or 0."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", *headers, "", ""]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall("\r\n".join(lines).encode())
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            parts = data.split(b" ", 2)
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except OSError:
        return 0


def metrics_text(base):
    import urllib.request
    return urllib.request.urlopen(f"{base}/metrics", timeout=30).read().decode()


def statuses_of(results):
    seen = {}
    for s in results:
        seen[s] = seen.get(s, 0) + 1
    return dict(sorted(seen.items()))


def start(name, port, extra=None, args=("serve",)):
    """A server on a database of its own; returns (Server, database path, data dir)."""
    data = os.path.join(WORK, name)
    os.makedirs(data, exist_ok=True)
    db = os.path.join(data, "sa.db")
    server = Server.__new__(Server)
    server.port, server.base = port, f"http://127.0.0.1:{port}"
    server.env = env(db, port, data)
    server.env.update(extra or {})
    server.log = open(os.path.join(data, "server.log"), "ab")
    server.process = subprocess.Popen([BIN, *args], env=server.env, stdout=server.log, stderr=server.log)
    import urllib.request
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{server.base}/health/ready", timeout=1).read()
            return server, db, data
        except Exception:
            if server.process.poll() is not None:
                raise RuntimeError(f"{name}: exited with {server.process.returncode}")
            time.sleep(0.1)
    raise RuntimeError(f"{name}: not ready")


TOKEN = __import__("re").compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def tokens_in(text):
    return len(TOKEN.findall(text))


def log_of(data):
    with open(os.path.join(data, "server.log"), "rb") as f:
        return f.read().decode(errors="replace")


def error_line(text):
    return next((l for l in text.splitlines() if l.startswith("Error:")), text.strip().splitlines()[0])


def main():
    port = 18500 + random.randint(0, 400)
    sent = 0

    print("1. unauthenticated memory growth through metric labels", flush=True)
    server, db, data = start("metrics", port, {"RATE_LIMIT_PER_MINUTE": "0"})
    base = server.base
    # Every label the flood can reach, once: what it adds after is counts, not series.
    for method in ("BREW", "GET"):
        raw_request(port, method, "/warm-up")
    metrics_text(base)  # the series of /metrics itself
    before_metrics = len(metrics_text(base))
    before_rss = rss_kib(server.process.pid)
    rng = random.Random(7)

    def flood(i):
        length = 32 * 1024 if i % 10 == 0 else 432
        method = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(length))
        path = "/" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz/") for _ in range(rng.randint(1, 300)))
        return raw_request(port, method, path)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(flood, range(10_000)))
    sent += len(results)
    after_metrics = len(metrics_text(base))
    after_rss = rss_kib(server.process.pid)
    figure("requests with random methods (432 B and 32 KiB) and paths", len(results))
    figure("statuses seen", statuses_of(results))
    figure("/metrics bytes before -> after", f"{before_metrics} -> {after_metrics}")
    figure("resident memory KiB before -> after", f"{before_rss} -> {after_rss}")
    assert after_metrics - before_metrics < 512, "metrics grew with the flood"
    assert after_rss - before_rss < 32 * 1024, "resident memory grew with the flood"
    t0 = time.time()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: metrics_text(base), range(4)))
    figure("four concurrent GET /metrics, seconds", round(time.time() - t0, 3))
    server.stop()

    print("2. live tokens in the logs", flush=True)
    server, db, data = start("tokens", port + 1, {"LOG_FORMAT": "json"})
    server.stop()
    first = log_of(data)
    assert tokens_in(first) == 3, "the run that filled the demo prints its three tokens"
    open(os.path.join(data, "server.log"), "w").close()
    server, _, _ = start("tokens", port + 1, {"LOG_FORMAT": "json"})
    server.stop()
    second = log_of(data)
    assert tokens_in(second) == 0 and "eyJ" not in second, "a later start printed tokens"
    figure("tokens printed on a start that filled the demo / on a later start", f"{tokens_in(first)} / {tokens_in(second)}")
    open(os.path.join(data, "server.log"), "w").close()
    server, _, _ = start("tokens", port + 1, {}, args=("serve", "--print-tokens"))
    server.stop()
    asked = tokens_in(log_of(data))
    assert asked == 3, asked
    open(os.path.join(data, "server.log"), "w").close()
    public = {"JWT_SECRET": "", "JWT_PUBLIC_KEY_FILE": os.path.join(FIXTURES, "rsa_public.pem")}
    e = env(os.path.join(WORK, "public", "sa.db"), port + 2, os.path.join(WORK, "public"))
    e.pop("JWT_SECRET")
    e["JWT_PUBLIC_KEY_FILE"] = public["JWT_PUBLIC_KEY_FILE"]
    os.makedirs(os.path.join(WORK, "public"), exist_ok=True)
    p = subprocess.Popen([BIN, "serve", "--print-tokens"], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(3)
    p.terminate()
    out = p.communicate(timeout=10)[0].decode(errors="replace")
    assert "eyJ" not in out, "tokens printed with a public key"
    figure("tokens printed with --print-tokens / with a public key and --print-tokens", f"{asked} / {tokens_in(out)}")

    print("3. refusals stored under idempotency keys, and no rate limit", flush=True)
    server, db, data = start("limits", port + 3, {"RATE_LIMIT_PER_MINUTE": "1200"})
    base = server.base
    operator = token("operator", db, data)
    status, _, partner = call(base, "POST", "/api/v1/partners", operator, {"name": "Mallory Licensing"})
    assert status == 201, partner
    outsider = token("partner", db, data, partner=partner["id"])
    status, _, page = call(base, "GET", f"/api/v1/accounts/{ACCOUNT}/benefits", operator)
    benefit = next(b["id"] for b in page["items"] if b.get("remaining") is not None)

    def keys_stored():
        with sqlite3.connect(db) as conn:
            return conn.execute("select count(*) from idempotency_keys").fetchone()[0]

    kept_before = keys_stored()
    size_before = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)

    def refused(i):
        return call(base, "POST", f"/api/v1/benefits/{benefit}/consumptions", outsider, {"quantity": 1}, key=f"k-{i}")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(refused, range(1500)))
    results = [status for status, _, _ in answers]
    sent += len(results)
    kept_after = keys_stored()
    figure("POSTs by a partner without permission, each with a new key", len(results))
    figure("statuses seen", statuses_of(results))
    figure("idempotency rows before -> after", f"{kept_before} -> {kept_after}")
    size_after = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)
    figure("database bytes before -> after", f"{size_before} -> {size_after}")
    assert kept_after == kept_before, "refusals were stored"
    assert 429 in results, "no 429 with RATE_LIMIT_PER_MINUTE=1200 after 1500 requests"
    # One of the 429s answered under the flood (a request sent after it would find the bucket
    # refilled as soon as 50 ms have passed: 1,200 a minute is one every 50 ms).
    status, headers, problem = next(a for a in answers if a[0] == 429)
    headers = {k.lower(): v for k, v in headers.items()}
    figure("the 429", f"Retry-After: {headers.get('retry-after')}, {problem}")
    assert status == 429 and int(headers["retry-after"]) >= 1 and problem["code"] == "rate_limited", (status, headers, problem)
    assert headers["content-type"].startswith("application/problem+json")
    bad = [call(base, "GET", "/api/v1/benefit-types", "not-a-token")[0] for _ in range(1300)]
    sent += len(bad)
    figure("requests without a valid token from one address", f"{len(bad)}: {statuses_of(bad)}")
    assert 429 in bad
    server.stop()

    print("4. a replay after the permission ended", flush=True)
    server, db, data = start("replay", port + 4, {"RATE_LIMIT_PER_MINUTE": "0"})
    base = server.base
    demo_partner = "9a8b7c6d-5e4f-4a3b-8c1d-0e9f8a7b6c01"
    status, _, mine = call(base, "GET", "/api/v1/partners/me/permissions", token("partner", db, data, partner=demo_partner))
    assert status == 200, mine
    approved = next(p for p in mine["items"] if p["status"] == "approved" and p["organization_id"] == ORG)
    partner_token = token("partner", db, data, partner=demo_partner)
    admin = token("customer_admin", db, data, org=ORG)
    status, _, page = call(base, "GET", f"/api/v1/accounts/{ACCOUNT}/benefits", admin)
    benefit = next(b["id"] for b in page["items"] if b["type"] == "problem_resolution_phone")
    key = new_key()
    first = call(base, "POST", f"/api/v1/benefits/{benefit}/consumptions", partner_token, {"quantity": 1}, key=key)
    again = call(base, "POST", f"/api/v1/benefits/{benefit}/consumptions", partner_token, {"quantity": 1}, key=key)
    lower = lambda h: {k.lower(): v for k, v in h.items()}  # noqa: E731
    assert first[0] == 201 and again[0] == 201 and lower(again[1]).get("idempotent-replayed") == "true", (first, again)
    status, _, moved = call(base, "PATCH", f"/api/v1/partner-permissions/{approved['id']}", admin, {"status": "removed"})
    assert status == 200, moved
    after = call(base, "POST", f"/api/v1/benefits/{benefit}/consumptions", partner_token, {"quantity": 1}, key=key)
    sent += 5
    figure("replay by the partner: before removal / after removal", f"{again[0]} / {after[0]}")
    assert after[0] == 404 and "idempotent-replayed" not in lower(after[1]), after

    print("5. tokens that bend the JWT rules", flush=True)
    now = int(time.time())
    cases = {
        "crit header": forge('{"alg":"HS256","crit":["exp"],"exp":1}', json.dumps(claims())),
        "exp in 9999": forge('{"alg":"HS256"}', json.dumps(claims(exp=253402300799))),
        "iat in the future": forge('{"alg":"HS256"}', json.dumps(claims(iat=now + 3600, exp=now + 4000))),
        "iat after exp": forge('{"alg":"HS256"}', json.dumps(claims(iat=now + 50, exp=now + 40))),
        "role twice": forge('{"alg":"HS256"}', json.dumps(claims())[:-1] + ',"role":"partner"}'),
        "org twice": forge('{"alg":"HS256"}', json.dumps(claims(role="customer_admin", org=ORG))[:-1] + ',"org":"00000000-0000-0000-0000-000000000000"}'),
        "alg none": b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(claims()).encode()) + ".",
        "9 KiB": forge('{"alg":"HS256"}', json.dumps(claims(pad="x" * 9000))),
    }
    for name, t in cases.items():
        status, headers, problem = call(base, "GET", "/api/v1/benefit-types", t)
        sent += 1
        assert status == 401 and {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "").startswith("Bearer"), (name, status, problem)
        figure(f"token with {name}", f"{status} {problem['detail']}")
    status, _, _ = call(base, "GET", "/api/v1/benefit-types", forge('{"alg":"HS256"}', json.dumps(claims())))
    assert status == 200
    before_rss = rss_kib(server.process.pid)

    def big(i):
        return call(base, "GET", "/api/v1/benefit-types", forge('{"alg":"HS256"}', json.dumps(claims(sub=f"u{i}", pad="y" * 5200))))[0]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(big, range(5000)))
    sent += len(results)
    after_rss = rss_kib(server.process.pid)
    figure("distinct valid 7 KiB tokens", f"{len(results)}: {statuses_of(results)}")
    figure("resident memory KiB before -> after", f"{before_rss} -> {after_rss}")
    assert results.count(200) == len(results), "7 KiB tokens are under the limit"
    assert after_rss - before_rss < 32 * 1024, "the verified-token memo grew with token size"
    server.stop()

    print("6. misconfiguration refuses to start, saying why", flush=True)
    e = env(os.path.join(WORK, "bad", "sa.db"), port + 5, os.path.join(WORK, "bad"))
    e.pop("JWT_SECRET")
    e["JWT_PUBLIC_KEY_FILE"] = os.path.join(FIXTURES, "rsa_private.pem")
    os.makedirs(os.path.join(WORK, "bad"), exist_ok=True)
    p = subprocess.run([BIN, "serve"], env=e, capture_output=True, timeout=30)
    message = (p.stdout + p.stderr).decode(errors="replace")
    figure("private key as JWT_PUBLIC_KEY_FILE", f"exit {p.returncode}: {error_line(message)}")
    assert p.returncode != 0 and "private key" in message
    e = env(os.path.join(WORK, "bad", "sa.db"), port + 5, os.path.join(WORK, "bad"))
    e["SMTP_URL"] = "smtp://user:password@mail.example.com:25"
    p = subprocess.run([BIN, "serve"], env=e, capture_output=True, timeout=30)
    message = (p.stdout + p.stderr).decode(errors="replace")
    figure("SMTP credentials in plain text off the machine", f"exit {p.returncode}: {error_line(message)}")
    assert p.returncode != 0 and "plain text" in message

    print("7. files", flush=True)
    modes = {}
    for name in ("sa.db", "sa.db-wal", "sa.db-shm"):
        path = os.path.join(WORK, "replay", name)
        if os.path.exists(path):
            modes[name] = oct(stat.S_IMODE(os.stat(path).st_mode))
    figure("SQLite file modes", modes)
    assert all(m == "0o600" for m in modes.values()) and "sa.db" in modes, modes

    print(f"\nabuse suite: {sent} requests sent; every finding closed", flush=True)


if __name__ == "__main__":
    main()
