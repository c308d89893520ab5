"""Appends N consumption rows of 1 (after the rows already there) to a benefit's ledger, straight into the database, and
sets the benefit's `used` to match, so the ledger invariant still holds. For the export
benchmark only: real ledgers are only written by the service.

usage: fill_ledger.py DATABASE_URL BENEFIT_ID N
"""
import subprocess
import sys

url, benefit, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Rows 2..N+1 after the grant (seq 1); quantity_after stays, used_after grows.
insert = f"""
INSERT INTO benefit_transactions (id, benefit_id, seq, kind, quantity_delta, used_delta,
    quantity_after, used_after, actor_subject, actor_role, created_at)
SELECT {{uuid}}, '{benefit}', m.seq + s, 'consumption', 0, 1, b.quantity, b.used + s, 'bench', 'customer_admin', {{now}}
FROM {{series}}, benefits b,
    (SELECT MAX(seq) AS seq FROM benefit_transactions WHERE benefit_id = '{benefit}') m
WHERE b.id = '{benefit}';
UPDATE benefits SET used = used + {n}, version = version + 1 WHERE id = '{benefit}';
"""
if url.startswith("postgres"):
    sql = insert.format(
        uuid="md5(random()::text || s::text)",
        now="now()::timestamp",
        series=f"generate_series(1, {n}) AS s",
    )
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", "BEGIN;" + sql + "COMMIT;"], check=True)
else:
    import sqlite3

    path = url.removeprefix("sqlite://").removeprefix("sqlite:")
    db = sqlite3.connect(path)
    sql = insert.format(
        uuid="lower(hex(randomblob(16)))",
        now="strftime('%Y-%m-%d %H:%M:%f', 'now')",
        series=f"(WITH RECURSIVE c(s) AS (SELECT 1 UNION ALL SELECT s + 1 FROM c WHERE s < {n}) SELECT s FROM c)",
    )
    db.executescript("BEGIN;" + sql + "COMMIT;")
    db.close()
