"""PostgreSQL over TLS as a customer's security review asks for it, and a clean stop.

A PostgreSQL server of its own (initdb in a temporary folder) that accepts TLS only, with a
certificate signed by a certificate authority made here. The real binary must:
  - serve with sslmode=verify-full (pool and listener both encrypted, the listener up);
  - refuse to start with another authority, with a host name the certificate does not name
    (verify-full), or with an unreadable sslrootcert or an unknown sslmode (naming it);
  - accept the same host with verify-ca, and be refused by the server with sslmode=disable;
  - stop on SIGTERM under load with exit code 0, having answered every request it accepted,
    and lost no acknowledged write (on this TLS server and on SQLite).
Usage: tls.py WORKDIR"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "resilience"))
from common import BIN, env, fresh_account, token  # noqa: E402

WORK = sys.argv[1]
PG_BIN = next(
    (os.path.join("/usr/lib/postgresql", v, "bin") for v in sorted(os.listdir("/usr/lib/postgresql"), reverse=True)
     if os.path.exists(os.path.join("/usr/lib/postgresql", v, "bin", "initdb"))),
    None,
)


def run(*args, user=None, **kw):
    if user:
        args = ("runuser", "-u", user, "--", *args)
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki(folder):
    """A CA and a server certificate for DNS:localhost only; another CA nobody trusts."""
    os.makedirs(folder, exist_ok=True)
    p = lambda n: os.path.join(folder, n)  # noqa: E731
    for ca in ("ca", "other-ca"):
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p(f"{ca}.key"), "-out", p(f"{ca}.pem"), "-days", "2", "-subj", f"/CN=SA Benefits test {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost")
    with open(p("server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-out", p("server.pem"), "-days", "2", "-extfile", p("server.ext"))
    return p


class TlsPostgres:
    """A PostgreSQL cluster of its own, TLS only, on a free port."""

    def __init__(self, folder, pki):
        self.folder = folder
        self.port = free_port()
        data = os.path.join(folder, "data")
        os.makedirs(folder, exist_ok=True)
        shutil.chown(folder, "postgres", "postgres")
        os.chmod(folder, 0o700)
        run(os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", user="postgres")
        for name in ("server.pem", "server.key"):
            shutil.copy(pki(name), os.path.join(data, name))
            shutil.chown(os.path.join(data, name), "postgres", "postgres")
            os.chmod(os.path.join(data, name), 0o600)
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{folder}'\n"
                    "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\nfsync = off\n"
                    "max_connections = 200\n")
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            # TLS only, as managed services do.
            f.write("local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n")
        run(os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-l", os.path.join(folder, "log"), "-w", "start", user="postgres")
        self.data = data

    def sql(self, query, db="postgres"):
        return run("psql", "-h", self.folder, "-p", str(self.port), "-U", "postgres", "-d", db, "-Atqc", query).stdout.strip()

    def stop(self):
        subprocess.run(("runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "stop"),
                       capture_output=True)


def start_server(database_url, port, data_dir, expect_ready=True):
    os.makedirs(data_dir, exist_ok=True)
    log = open(os.path.join(data_dir, f"server-{port}.log"), "ab")
    e = env(database_url, port, data_dir)
    e["RUST_BACKTRACE"] = "0"
    process = subprocess.Popen([BIN, "serve"], env=e, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            if expect_ready:
                raise RuntimeError(f"the server exited with {process.returncode}: {tail(data_dir, port)}")
            return process, base
        try:
            ready = json.loads(urllib.request.urlopen(f"{base}/health/ready", timeout=1).read())
            if not expect_ready:
                raise RuntimeError(f"the server started although it should not have: {ready}")
            return process, base
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def tail(data_dir, port):
    with open(os.path.join(data_dir, f"server-{port}.log"), "rb") as f:
        return f.read().decode(errors="replace")[-6000:]


def refused_to_start(name, database_url, must_say):
    data = os.path.join(WORK, name)
    port = free_port()
    process, _ = start_server(database_url, port, data, expect_ready=False)
    process.wait(timeout=30)
    said = tail(data, port)
    line = next((l for l in said.splitlines() if l.startswith("Error:")), said.strip().splitlines()[-1])
    print(f"  {name}: exit {process.returncode}: {line}", flush=True)
    assert process.returncode != 0, name
    assert must_say in said, (name, must_say, said)


def wait_coordinated(base, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        ready = json.loads(urllib.request.urlopen(f"{base}/health/ready", timeout=2).read())
        if ready.get("coordination") == "coordinated":
            return ready
        time.sleep(0.1)
    raise AssertionError(f"not coordinated: {ready}")


def consume(base, token_, benefit, key):
    """(outcome, status): 'answered' with its status, 'refused' when the connection was
    refused, 'reset' when the connection went away without an answer (the stop closed it
    before the server read the request: it must then have changed nothing)."""
    request = urllib.request.Request(f"{base}/api/v1/benefits/{benefit}/consumptions", method="POST",
                                     data=json.dumps({"quantity": 1}).encode())
    request.add_header("Authorization", f"Bearer {token_}")
    request.add_header("Content-Type", "application/json")
    request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return "answered", response.status
    except urllib.error.HTTPError as e:
        e.read()
        return "answered", e.code
    except urllib.error.URLError as e:
        if isinstance(e.reason, ConnectionRefusedError):
            return "refused", 0
        return "reset", repr(e.reason)
    except (ConnectionResetError, BrokenPipeError, http_errors()) as e:
        return "reset", repr(e)


def http_errors():
    import http.client
    return http.client.HTTPException


def stop_under_load(name, database_url, data):
    """Consumptions from 16 clients; SIGTERM after 2 s; exit code 0; every accepted request
    answered; every acknowledged consumption in the ledger after a restart."""
    port = free_port()
    process, base = start_server(database_url, port, data)
    admin = token("customer_admin", database_url, data, org="6d3c1a52-0b7e-4c9d-8e21-c017505a1101")
    operator = token("operator", database_url, data)
    _, ids = fresh_account(base, operator, {"planning_services": 1000000})
    benefit = ids["planning_services"]
    outcomes = []
    lock = threading.Lock()
    stop_at = time.time() + 2.0

    def client():
        while True:
            result = consume(base, admin, benefit, str(uuid.uuid4()))
            with lock:
                outcomes.append(result)
            if result[0] != "answered" or time.time() > stop_at + 10:
                return

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    sent_at = time.time()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    stopped_in = time.time() - sent_at
    for t in threads:
        t.join()
    answered = [s for o, s in outcomes if o == "answered"]
    acknowledged = answered.count(201)
    reset = sum(1 for o, _ in outcomes if o == "reset")
    reasons = sorted(set(str(s) for o, s in outcomes if o == "reset"))
    refused = sum(1 for o, _ in outcomes if o == "refused")
    log = tail(data, port)
    process, base = start_server(database_url, port, data)
    request = urllib.request.Request(f"{base}/api/v1/benefits/{benefit}")
    request.add_header("Authorization", f"Bearer {operator}")
    used = json.loads(urllib.request.urlopen(request, timeout=10).read())["used"]
    process.send_signal(signal.SIGTERM)
    second = process.wait(timeout=60)
    print(f"  {name}: {len(outcomes)} requests, {acknowledged} acknowledged (201), other answers "
          f"{sorted(set(s for s in answered if s != 201))}, {refused} refused and {reset} reset by the stop "
          f"{reasons if reasons else ''}; "
          f"exit code {code} after {stopped_in:.2f} s; used after restart {used}; second stop exit {second}",
          flush=True)
    assert code == 0, f"exit code {code}: {log}"
    assert second == 0
    # Every request the server took up was answered: the ledger holds exactly the answered
    # consumptions, so no unanswered one was applied (and no acknowledged one was lost).
    assert used == acknowledged, f"{acknowledged} acknowledged, {used} in the ledger"
    assert len(answered) + refused + reset == len(outcomes)
    assert acknowledged > 0
    assert "panicked" not in log and "Segmentation" not in log


def main():
    if PG_BIN is None:
        raise SystemExit("PostgreSQL's server programs are not installed (/usr/lib/postgresql/*/bin/initdb)")
    pki = make_pki(os.path.join(WORK, "pki"))
    os.chmod(WORK, 0o755)
    pg = TlsPostgres(os.path.join(WORK, "pg"), pki)
    try:
        pg.sql("create database sa")
        base_url = f"postgres://postgres@localhost:{pg.port}/sa"
        full = f"{base_url}?sslmode=verify-full&sslrootcert={pki('ca.pem')}"
        print("1. verify-full against the test's certificate authority", flush=True)
        data = os.path.join(WORK, "full")
        process, base = start_server(full, free_port(), data)
        ready = wait_coordinated(base)
        rows = pg.sql("select a.application_name, s.ssl, s.version from pg_stat_activity a "
                      "join pg_stat_ssl s using (pid) where a.datname = 'sa' order by 1")
        print(f"  ready: {ready}", flush=True)
        print("  connections (application, ssl, version): " + "; ".join(rows.splitlines()), flush=True)
        lines = [r.split("|") for r in rows.splitlines()]
        assert lines and all(l[1] == "t" for l in lines), rows
        assert any(l[0] == "sa-benefits-listener" for l in lines), rows
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

        print("2. what must not start", flush=True)
        refused_to_start("another CA", f"{base_url}?sslmode=verify-full&sslrootcert={pki('other-ca.pem')}",
                         "certificate verify failed")
        refused_to_start("a host the certificate does not name",
                         f"postgres://postgres@127.0.0.1:{pg.port}/sa?sslmode=verify-full&sslrootcert={pki('ca.pem')}",
                         "does not match")
        refused_to_start("TLS turned off (the server accepts TLS only)", f"{base_url}?sslmode=disable", "no encryption")
        refused_to_start("an unknown sslmode", f"{base_url}?sslmode=verify-everything", "sslmode")
        refused_to_start("an unreadable sslrootcert", f"{base_url}?sslmode=verify-full&sslrootcert={WORK}/missing.pem",
                         "sslrootcert")

        print("3. verify-ca checks the chain, not the name", flush=True)
        data = os.path.join(WORK, "ca")
        process, base = start_server(
            f"postgres://postgres@127.0.0.1:{pg.port}/sa?sslmode=verify-ca&sslrootcert={pki('ca.pem')}", free_port(), data)
        print(f"  ready: {wait_coordinated(base)}", flush=True)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

        print("4. SIGTERM under load", flush=True)
        stop_under_load("PostgreSQL, verify-full", full, os.path.join(WORK, "load-pg"))
        stop_under_load("SQLite", os.path.join(WORK, "load-sqlite", "sa.db"), os.path.join(WORK, "load-sqlite"))
    finally:
        pg.stop()
    print("\nTLS and clean stop: every check passed", flush=True)


if __name__ == "__main__":
    main()
