"""Crash safety: under a load of consumptions, `kill -9` the server, start it again on the
same database, and check that every request answered 2xx is in the ledger (and replays
the same answer on retry), nothing is there twice, and the invariant holds.

Usage: python3 crash.py <database url> <work dir> <backend name>"""

import concurrent.futures
import sys
import threading
import time

from common import ORG, Server, call, fresh_account, invariant, ledger, new_key, token

url, work, backend = sys.argv[1], sys.argv[2], sys.argv[3]
server = Server(url, 18491, work)
admin = token("customer_admin", url, work, org=ORG)
_, ids = fresh_account(server.base, token("operator", url, work), {"problem_resolution_phone": 1_000_000_000})
support = ids["problem_resolution_phone"]
answered, lost, lock = [], [], threading.Lock()
stop = threading.Event()


def load(worker):
    n = 0
    while not stop.is_set():
        key = f"crash-{worker}-{n}-{new_key()}"
        n += 1
        status, _, body = call(server.base, "POST", f"/api/v1/benefits/{support}/consumptions", admin,
                               {"quantity": 1, "reference": f"W{worker}-{n}"}, key, timeout=5)
        with lock:
            if status == 201:
                answered.append((key, body))
            elif status == 0:
                lost.append(key)  # cut by the kill: may or may not have committed
                return
            else:
                raise AssertionError(f"unexpected {status}: {body}")


with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
    futures = [pool.submit(load, w) for w in range(16)]
    time.sleep(2.5)
    server.kill()  # in the middle of the load
    killed_at = len(answered)
    stop.set()
    for f in futures:
        f.result()

server = Server(url, 18491, work)
try:
    rows = ledger(server.base, admin, support)
    ids = [r["id"] for r in rows if r["kind"] == "consumption"]
    assert len(ids) == len(set(ids))
    answered_ids = [body["transaction"]["id"] for _, body in answered]
    missing = set(answered_ids) - set(ids)
    assert not missing, f"{len(missing)} answered consumptions lost by the crash"
    # Requests cut by the kill may or may not have committed; nothing else is there.
    unanswered_in_ledger = len(ids) - len(answered_ids)
    assert 0 <= unanswered_in_ledger <= len(lost), (unanswered_in_ledger, len(lost))
    calc = invariant(server.base, admin, support)
    assert calc["used"] == len(ids), (calc["used"], len(ids))
    # Answers survived too: a retry replays the first answer.
    for key, body in answered[-20:]:
        status, headers, again = call(server.base, "POST", f"/api/v1/benefits/{support}/consumptions", admin,
                                      {"quantity": 1, "reference": body["transaction"]["reference"]}, key)
        assert status == 201 and again == body, (status, again, body)
        assert headers.get("idempotent-replayed", headers.get("Idempotent-Replayed")) == "true"
    print(f"crash safety ({backend}): killed with -9 after {killed_at} answered consumptions; after restart all "
          f"{len(answered_ids)} answered ones are in the ledger once, {unanswered_in_ledger} of the "
          f"{len(lost)} cut requests had committed, retries replay, ledger and figures agree")
finally:
    server.stop()
