"""What a partner system in Python does: a client generated from openapi/openapi.json by
openapi-python-client, used against the real server with the demo data. Every operation of
the document must be generated; the script lists benefits in French, consumes with an
Idempotency-Key and replays it, and approves a partner's pending request.
Usage: portal.py GENERATED_DIR DOCUMENT"""

import importlib
import json
import os
import pkgutil
import sys
import uuid

generated, document = sys.argv[1], sys.argv[2]
sys.path.insert(0, generated)

import sa_benefits_api_client.api as api  # noqa: E402
from sa_benefits_api_client import AuthenticatedClient  # noqa: E402
from sa_benefits_api_client.api.benefits import get_benefit, list_account_benefits  # noqa: E402
from sa_benefits_api_client.api.ledger import consume_benefit  # noqa: E402
from sa_benefits_api_client.api.partner_permissions import (  # noqa: E402
    decide_permission,
    get_permission,
    list_organization_permissions,
)
from sa_benefits_api_client.models import (  # noqa: E402
    BenefitList,
    ConsumptionBody,
    LedgerChange,
    MoveBody,
    PermissionMove,
    PermissionStatus,
    PermissionView,
)

# Every operation of the document, generated.
with open(document) as f:
    doc = json.load(f)
wanted = {
    op["operationId"]
    for item in doc["paths"].values()
    for method, op in item.items()
    if method in ("get", "post", "put", "patch", "delete")
}
made = set()
for tag in pkgutil.iter_modules(api.__path__):
    package = importlib.import_module(f"sa_benefits_api_client.api.{tag.name}")
    for module in pkgutil.iter_modules(package.__path__):
        made.add(module.name)
snake = {
    o: "".join("_" + c.lower() if c.isupper() else c for c in o).lstrip("_") for o in wanted
}
missing = sorted(o for o, s in snake.items() if s not in made)
print(f"  operations generated: {len(wanted) - len(missing)} / {len(wanted)}")
assert not missing, f"not generated: {missing}"

base = os.environ["SA_BASE_URL"]
account = os.environ["SA_ACCOUNT"]
org = os.environ["SA_ORG"]
pending = os.environ["SA_PENDING_PERMISSION"]
admin = AuthenticatedClient(base_url=base, token=os.environ["SA_ADMIN_TOKEN"])

# 1. "Your benefits", in French.
english = list_account_benefits.sync(account, client=admin)
french = list_account_benefits.sync(account, client=admin, accept_language="fr")
assert isinstance(english, BenefitList) and isinstance(french, BenefitList), (english, french)
names = {b.id: (b.name, f.name) for b in english.items for f in french.items if f.id == b.id}
translated = [fr for en, fr in names.values() if fr != en]
assert translated, "no French name"
print(f"  benefits in French: {len(french.items)}, e.g. {translated[0]!r}")

# 2. A consumption with an Idempotency-Key, sent twice: applied once, the same answer.
phone = next(b for b in english.items if b.type_ == "problem_resolution_phone")
key = f"py-{uuid.uuid4()}"
first = consume_benefit.sync_detailed(phone.id, client=admin, body=ConsumptionBody(quantity=2), idempotency_key=key)
again = consume_benefit.sync_detailed(phone.id, client=admin, body=ConsumptionBody(quantity=2), idempotency_key=key)
assert first.status_code == 201 and isinstance(first.parsed, LedgerChange), first
assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true", again.headers
assert again.content == first.content, "the same answer"
after = get_benefit.sync(phone.id, client=admin)
assert after.used == phone.used + 2, (phone.used, after.used)
print(f"  consumed 2 with {key}: used {phone.used} -> {after.used}, replay {again.status_code} replayed")

# 3. The organization approves Northwind's pending request.
listed = list_organization_permissions.sync(org, client=admin, status=PermissionStatus.PENDING)
assert any(str(p.id) == pending for p in listed.items), listed
current = get_permission.sync_detailed(uuid.UUID(pending), client=admin)
decided = decide_permission.sync(
    uuid.UUID(pending), client=admin, body=MoveBody(status=PermissionMove.APPROVED),
    if_match=current.headers.get("etag"),
)
assert isinstance(decided, PermissionView) and decided.status == PermissionStatus.APPROVED, decided
print(f"  approved the request of partner {decided.partner_id}: {decided.status.value}")
print("Python client (openapi-python-client): every operation generated; French list, idempotent consumption, approval")
