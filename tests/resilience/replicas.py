"""Two `sa-benefits serve` processes on one PostgreSQL database, a concurrent load of
consumptions and conversions spread over both, and idempotent retries sent to the other
replica. Afterwards the ledger invariant holds exactly, every answered consumption and
conversion is in the ledger once, and every retry was a replay (no double spend).

Usage: python3 replicas.py <postgres admin url> <work dir>"""

import concurrent.futures
import subprocess
import sys
import time
import uuid

from common import ORG, Server, call, fresh_account, invariant, ledger, new_key, token

admin_url, work = sys.argv[1], sys.argv[2]
name = f"sa_replicas_{uuid.uuid4().hex[:12]}"
subprocess.check_call(["psql", admin_url, "-qc", f"create database {name}"])
url = admin_url.rsplit("/", 1)[0] + "/" + name
url += "?sslmode=disable" if "?" not in url else ""
servers = []
try:
    servers.append(Server(url, 18391, work))  # migrates and seeds the demo
    servers.append(Server(url, 18392, work))  # finds both done
    admin = token("customer_admin", url, work, org=ORG)
    operator = token("operator", url, work)
    a, b = servers[0].base, servers[1].base
    ACCOUNT, ids = fresh_account(a, operator, {"problem_resolution_phone": 250, "training_vouchers": 90,
                                               "planning_services": 5})
    support, training, planning = ids["problem_resolution_phone"], ids["training_vouchers"], ids["planning_services"]
    before = {x: call(a, "GET", f"/api/v1/benefits/{x}", admin)[2] for x in (support, training, planning)}

    def consume(i):
        key = new_key()
        first, second = (a, b) if i % 2 == 0 else (b, a)
        status, _, body = call(first, "POST", f"/api/v1/benefits/{support}/consumptions", admin, {"quantity": 1}, key)
        retry = call(second, "POST", f"/api/v1/benefits/{support}/consumptions", admin, {"quantity": 1}, key)
        return ("consumption", key, status, body, retry)

    def convert(i):
        key = new_key()
        direction = "forward" if i % 3 else "reverse"
        first, second = (a, b) if i % 2 else (b, a)
        payload = {"direction": direction, "planning_days": 1}
        status, _, body = call(first, "POST", f"/api/v1/accounts/{ACCOUNT}/conversions", admin, payload, key)
        retry = call(second, "POST", f"/api/v1/accounts/{ACCOUNT}/conversions", admin, payload, key)
        return ("conversion", key, status, body, retry)

    jobs = [(consume, i) for i in range(300)] + [(convert, i) for i in range(60)]
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda job: job[0](job[1]), jobs))
    elapsed = time.time() - started

    consumed = [r for r in results if r[0] == "consumption" and r[2] == 201]
    converted = [r for r in results if r[0] == "conversion" and r[2] == 201]
    refused = [r for r in results if r[2] not in (201,)]
    for kind, key, status, body, (rstatus, rheaders, rbody) in results:
        if status == 201:
            # The retry on the other replica is the same answer, replayed.
            assert rstatus == 201, (kind, rstatus, rbody)
            assert rheaders.get("idempotent-replayed") == "true" or rheaders.get("Idempotent-Replayed") == "true", rheaders
            assert rbody == body, (body, rbody)
        elif status in (409, 422):
            # A refusal (e.g. nothing to convert back yet, in flight) is answered the same
            # again or, while the first ran, refused as in flight.
            assert rstatus in (status, 409), (kind, status, rstatus, rbody)
        else:
            raise AssertionError((kind, status, body))

    # Every answered consumption is in the ledger exactly once; the figures agree.
    rows = ledger(a, admin, support)
    ids = [r["id"] for r in rows if r["kind"] == "consumption"]
    answered = [r[3]["transaction"]["id"] for r in consumed]
    assert len(set(answered)) == len(answered)
    assert set(answered) <= set(ids), "an answered consumption is missing from the ledger"
    assert len(ids) == len(answered), (len(ids), len(answered))
    after = call(a, "GET", f"/api/v1/benefits/{support}", admin)[2]
    assert after["used"] == before[support]["used"] + len(consumed), (after, len(consumed))
    for x in (support, training, planning):
        invariant(a, admin, x)
        invariant(b, admin, x)
    # Conversions: each answered one is recorded once, and the balances moved by exactly it.
    _, _, history = call(a, "GET", f"/api/v1/accounts/{ACCOUNT}/conversions?limit=200", admin)
    recorded = {c["id"] for c in history["items"]}
    assert {c[3]["id"] for c in converted} <= recorded
    net = sum(c[3]["planning_days"] * (1 if c[3]["direction"] == "forward" else -1) for c in converted)
    t_after = call(a, "GET", f"/api/v1/benefits/{training}", admin)[2]
    p_after = call(a, "GET", f"/api/v1/benefits/{planning}", admin)[2]
    assert t_after["quantity"] == before[training]["quantity"] - 3 * net, (before[training], t_after, net)
    assert p_after["quantity"] == before[planning]["quantity"] + net, (before[planning], p_after, net)
    print(f"two replicas: {len(results)} requests + {len(results)} retries on the other replica in {elapsed:.1f} s; "
          f"{len(consumed)} consumptions and {len(converted)} conversions done once each, "
          f"{len(refused)} refused, every retry replayed; ledger and figures agree on both replicas")
finally:
    for s in servers:
        s.stop()
    subprocess.call(["psql", admin_url, "-qc", f"drop database if exists {name}"])
