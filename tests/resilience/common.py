"""Helpers shared by the resilience scripts: servers of the real binary and HTTP calls."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "debug", "sa-benefits")
ORG = "6d3c1a52-0b7e-4c9d-8e21-c017505a1101"
ACCOUNT = "4a7b2c1d-5e6f-4a8b-9c0d-1e2f3a4b5c01"
SECRET = "resilience-secret-resilience-secret-0123"


def env(database_url, port, data_dir):
    e = dict(os.environ)
    e.update(
        DATABASE_URL=database_url,
        BIND_ADDR=f"127.0.0.1:{port}",
        JWT_SECRET=SECRET,
        DATA_DIR=data_dir,
        RUST_LOG="warn",
        WORKERS="2",
        # Load from one token: the per-principal limit is not what is tested here.
        RATE_LIMIT_PER_MINUTE="0",
    )
    return e


class Server:
    """One `sa-benefits serve` process."""

    def __init__(self, database_url, port, data_dir):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = env(database_url, port, data_dir)
        self.log = open(os.path.join(data_dir, f"server-{port}.log"), "ab")
        self.process = subprocess.Popen([BIN, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/health/ready", timeout=1).read()
                return
            except Exception:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server on {port} exited with {self.process.returncode}")
                time.sleep(0.1)
        raise RuntimeError(f"server on {port} did not become ready")

    def kill(self):
        """kill -9: no shutdown of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def token(role, database_url, data_dir, **claims):
    args = [BIN, "token", "--role", role, "--ttl", "2h"]
    if "org" in claims:
        args += ["--org", claims["org"]]
    if "partner" in claims:
        args += ["--partner", claims["partner"]]
    return subprocess.check_output(args, env=env(database_url, 0, data_dir)).decode().strip()


def call(base, method, path, token_, body=None, key=None, timeout=30):
    """(status, headers, parsed body); status 0 when the connection failed."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token_}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, dict(e.headers), parsed
    except Exception:
        return 0, {}, None


def benefit_of(base, token_, code):
    _, _, page = call(base, "GET", f"/api/v1/accounts/{ACCOUNT}/benefits", token_)
    return next(b["id"] for b in page["items"] if b["type"] == code)


def ledger(base, token_, benefit):
    """Every ledger row of a benefit, newest first."""
    rows, cursor = [], None
    while True:
        path = f"/api/v1/benefits/{benefit}/transactions?limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, _, page = call(base, "GET", path, token_)
        assert status == 200, (status, page)
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows


def invariant(base, token_, benefit):
    status, _, calc = call(base, "GET", f"/api/v1/benefits/{benefit}/calculation", token_)
    assert status == 200, calc
    assert calc["ledger_agrees"] is True, calc
    return calc


def new_key():
    return str(uuid.uuid4())


def fresh_account(base, operator, grants):
    """A new purchasing account of the demo organization with these grants
    ({type: quantity}); its id and the benefits' ids by type."""
    status, _, account = call(base, "POST", f"/api/v1/organizations/{ORG}/accounts", operator, {"name": "Load"})
    assert status == 201, account
    ids = {}
    for code, quantity in grants.items():
        status, _, benefit = call(base, "POST", f"/api/v1/accounts/{account['id']}/benefits", operator,
                                  {"type": code, "quantity": quantity, "expires_at": "2099-01-01T00:00:00Z"})
        assert status == 201, benefit
        ids[code] = benefit["id"]
    return account["id"], ids
