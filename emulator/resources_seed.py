"""The seed customers' accounts, Bre-B keys and recipients: deterministic, made on first read.

Why lazily: the benchmark starts emulators with ~10,000 customers, and making their ~80,000
records up front would cost about a second at every start. At start only each customer's *plan*
is drawn (how many accounts, keys and recipients, and their ids), so a lookup by id knows whose
records to make; a customer's records are made the first time any of them is read. Plan and
records come from one random stream seeded with (seed, customer id), then the seed's start time
and the customer's own fields: the same data whatever is read first.

Bre-B keys are globally unique aliases, so seed key values are too: phones, business codes,
e-mails and alphanumerics encode a scrambled serial number of the key (unique while there are
fewer than 111,111 customers); an ID key is its customer's own document number (at most one per
customer). Recipients are other people's keys: their values are random and may repeat.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulator.formats import iso_utc_ms
from emulator.seed import business_name, seeded_uuid, slug

ACCOUNTS, KEYS, RECIPIENTS = "accounts", "keys", "recipients"
RESOURCE_KINDS: tuple[str, ...] = (ACCOUNTS, KEYS, RECIPIENTS)
# The field naming each resource's owner: a key belongs to an account, which belongs to a customer.
OWNER_FIELDS: dict[str, str] = {ACCOUNTS: "customer_id", KEYS: "account_id", RECIPIENTS: "customer_id"}

Record = dict[str, Any]
Holdings = dict[str, list[Record]]  # kind -> records

MIN_ACCOUNTS, MAX_ACCOUNTS = 1, 3
MAX_KEYS_PER_ACCOUNT = 3
MAX_RECIPIENTS = 4
KEY_SERIALS_PER_CUSTOMER = MAX_ACCOUNTS * MAX_KEYS_PER_ACCOUNT
ACTIVE_ACCOUNT_SHARE = 0.9
LOW_VALUE_ACCOUNT_SHARE = 0.2
EMPTY_BALANCE_SHARE = 0.05
EMPTY_PENDING_SHARE = 0.7
SUSPENDED_KEY_SHARE = 0.1
DISPLAY_NAME_SHARE = 0.5
KEY_CHANGED_LATER_SHARE = 0.3
PERSON_PAYEE_SHARE = 0.6
MIN_PESOS_EXPONENT, MAX_PESOS_EXPONENT = 3.0, 9.5
ACCOUNT_NUMBER_DIGITS = 11
ALPHA_HANDLE_LENGTH = 10
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
EMAIL_CODE_LENGTH = 8
MILLIS_PER_SECOND = 1000

KEY_TYPES: tuple[str, ...] = ("ID", "PHONE", "EMAIL", "ALPHA", "BCODE")
# How many distinct codes each key type can tell apart (its digits, or base-36 characters); an ID
# key is its holder's document number and needs none.
KEY_CODE_MODULI: dict[str, int] = {
    "ID": 1, "PHONE": 10**9, "BCODE": 10**8, "EMAIL": 36**EMAIL_CODE_LENGTH, "ALPHA": 10**6,
}
ACCOUNT_NUMBER_MODULUS = 10**ACCOUNT_NUMBER_DIGITS
# An affine map x -> (a*x + b) mod m is a bijection when a shares no factor with m (2, 3, 5 here);
# a near m/golden-ratio spreads consecutive serials far apart.
SCRAMBLE_MULTIPLIER = 618_033_989
SCRAMBLE_OFFSET = 7_654_321
STATUS_SUSPENDED = "SUSPENDED"  # the docs do not spell the suspended status: a guess

PAYEE_FIRST_NAMES: tuple[str, ...] = ("María", "José", "Luisa", "Andrés", "Camila", "Juan", "Valentina", "Carlos")
PAYEE_LAST_NAMES: tuple[str, ...] = ("Gómez", "Rodríguez", "Martínez", "López", "García", "Pérez", "Rojas", "Díaz")
PAYEE_EMAIL_DOMAINS: tuple[str, ...] = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com")


@dataclass(frozen=True)
class HoldingsPlan:
    """The ids one seed customer owns: drawn first and cheaply, so every id is known at start."""

    customer_id: str
    accounts: tuple[tuple[str, tuple[str, ...]], ...]  # (account id, its key ids)
    recipients: tuple[str, ...]

    def entries(self) -> Iterator[tuple[str, str, str]]:
        """(kind, id, owner) for every resource in the plan; the owner as in OWNER_FIELDS."""
        for account_id, key_ids in self.accounts:
            yield ACCOUNTS, account_id, self.customer_id
            yield from ((KEYS, key_id, account_id) for key_id in key_ids)
        yield from ((RECIPIENTS, recipient_id, self.customer_id) for recipient_id in self.recipients)


@dataclass(frozen=True)
class Owner:
    """What a key value may be built from: its holder's document, e-mail domain and name."""

    document: str
    email_domain: str
    handle: str


def holdings_rng(seed: int, customer_id: str) -> random.Random:
    """The customer's own random stream (seeded by text: stable across runs and hash seeds)."""
    return random.Random(f"holdings:{seed}:{customer_id}")


def draw_plan(rng: random.Random, customer_id: str) -> HoldingsPlan:
    """1-3 accounts with 0-3 keys each, and 0-4 recipients: their ids."""
    accounts = []
    for _ in range(rng.randint(MIN_ACCOUNTS, MAX_ACCOUNTS)):
        account_id = seeded_uuid(rng)
        accounts.append((account_id, tuple(seeded_uuid(rng) for _ in range(rng.randint(0, MAX_KEYS_PER_ACCOUNT)))))
    recipients = tuple(seeded_uuid(rng) for _ in range(rng.randint(0, MAX_RECIPIENTS)))
    return HoldingsPlan(customer_id, tuple(accounts), recipients)


def scrambled(serial: int, modulus: int, seed: int) -> int:
    """A random-looking number below `modulus`, different for every serial below it."""
    return (SCRAMBLE_MULTIPLIER * serial + SCRAMBLE_OFFSET * seed) % modulus


def _base36(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(BASE36))
        digits.append(BASE36[digit])
    return "".join(reversed(digits))


def key_value(key_type: str, code: int, owner: Owner) -> str:
    """A plausible Colombian value of a Bre-B key of `key_type`, distinct for distinct codes."""
    if key_type == "ID":
        return owner.document
    if key_type == "PHONE":
        return f"3{code % KEY_CODE_MODULI['PHONE']:09d}"  # a 10-digit mobile: 3xx xxx xxxx
    if key_type == "BCODE":
        return f"00{code % KEY_CODE_MODULI['BCODE']:08d}"  # as the docs' example: 0016027228
    if key_type == "EMAIL":
        return f"{_base36(code, EMAIL_CODE_LENGTH)}@{owner.email_domain}"
    return f"@{owner.handle[:ALPHA_HANDLE_LENGTH]}{code % KEY_CODE_MODULI['ALPHA']:06d}"


def _posix(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()  # Python 3.11 reads the trailing Z as UTC


def _moment_between(rng: random.Random, start: float, end: float) -> float:
    """A moment in [start, end] (just `start` when end is earlier), to the millisecond."""
    span_ms = max(0, int((end - start) * MILLIS_PER_SECOND))
    return start + rng.randint(0, span_ms) / MILLIS_PER_SECOND


def _amount(rng: random.Random) -> str:
    """A peso amount as Passport writes money: a decimal string ("0", "1250000", "98765.43")."""
    if rng.random() < EMPTY_BALANCE_SHARE:
        return "0"
    pesos = int(10 ** rng.uniform(MIN_PESOS_EXPONENT, MAX_PESOS_EXPONENT))
    return rng.choice((str(pesos), str(pesos), f"{pesos}.00", f"{pesos}.{rng.randrange(100):02d}"))


def money(value: str) -> dict[str, str]:
    return {"value": value, "currency": "COP"}


def make_account(rng: random.Random, account_id: str, owner_id: str, serial: int, context: HoldingsContext) -> Record:
    created = _moment_between(rng, context.since, context.now)
    pending = "0" if rng.random() < EMPTY_PENDING_SHARE else _amount(rng)
    return {
        "id": account_id,
        "customer_id": owner_id,
        "account_number": f"{scrambled(serial, ACCOUNT_NUMBER_MODULUS, context.seed):0{ACCOUNT_NUMBER_DIGITS}d}",
        "account_type": "LOW_VALUE" if rng.random() < LOW_VALUE_ACCOUNT_SHARE else "ORDINARY",
        "status": "ACTIVE" if rng.random() < ACTIVE_ACCOUNT_SHARE else "INACTIVE",
        "available_balance": money(_amount(rng)),
        "pending_balance": money(pending),
        "created_at": iso_utc_ms(created),
        "updated_at": iso_utc_ms(_moment_between(rng, created, context.now)),
    }


def make_key(rng: random.Random, key_id: str, account: Record, key_type: str, serial: int,
             context: HoldingsContext) -> Record:
    created = _moment_between(rng, _posix(account["created_at"]), context.now)
    changed_later = rng.random() < KEY_CHANGED_LATER_SHARE
    code = scrambled(serial, KEY_CODE_MODULI[key_type], context.seed)
    record: Record = {
        "id": key_id,
        "account_id": account["id"],
        "key": {"key_type": key_type, "key_value": key_value(key_type, code, context.owner)},
        "status": STATUS_SUSPENDED if rng.random() < SUSPENDED_KEY_SHARE else "ACTIVE",
        "created_at": iso_utc_ms(created),
        "updated_at": iso_utc_ms(_moment_between(rng, created, context.now) if changed_later else created),
    }
    if rng.random() < DISPLAY_NAME_SHARE:
        record["display_name"] = context.display_name
    return record


def _payee(rng: random.Random) -> tuple[str, Owner]:
    """A payee's alias and the pieces of their key: a person or a business."""
    if rng.random() < PERSON_PAYEE_SHARE:
        alias = f"{rng.choice(PAYEE_FIRST_NAMES)} {rng.choice(PAYEE_LAST_NAMES)}"
        domain = rng.choice(PAYEE_EMAIL_DOMAINS)
    else:
        alias, core = business_name(rng)
        domain = f"{slug(core)}.com.co"
    return alias, Owner(document=str(rng.randint(1_000_000, 1_999_999_999)), email_domain=domain, handle=slug(alias))


def make_recipient(rng: random.Random, recipient_id: str, owner_id: str, context: HoldingsContext) -> Record:
    created = iso_utc_ms(_moment_between(rng, context.since, context.now))
    alias, payee = _payee(rng)
    key_type = rng.choice(KEY_TYPES)
    code = rng.randrange(KEY_CODE_MODULI[key_type])
    return {
        "id": recipient_id,
        "customer_id": owner_id,
        "type": "BREB",
        "key": {"key_type": key_type, "key_value": key_value(key_type, code, payee)},
        "alias": alias,
        "created_at": created,
        "updated_at": created,  # recipients cannot be updated
    }


@dataclass(frozen=True)
class HoldingsContext:
    """What one customer's records are made from besides their random stream."""

    seed: int
    now: float
    since: float  # the customer's creation
    owner: Owner
    display_name: str

    @classmethod
    def of(cls, seed: int, now: float, customer: Record) -> HoldingsContext:
        owner = Owner(document=customer["identification_number"], email_domain=customer["email"].partition("@")[2],
                      handle=slug(customer["business_name"]))
        return cls(seed, now, _posix(customer["created_at"]), owner, customer["business_name"])


def _key_types(rng: random.Random, count: int, id_taken: bool) -> list[str]:
    """`count` key types; ID at most once per customer (it is the customer's own document)."""
    types = []
    for _ in range(count):
        key_type = rng.choice([kind for kind in KEY_TYPES if kind != "ID" or not id_taken])
        id_taken = id_taken or key_type == "ID"
        types.append(key_type)
    return types


def make_holdings(seed: int, ordinal: int, customer: Record, now: float) -> Holdings:
    """Everything the `ordinal`-th generated customer owns, from the plan on."""
    rng = holdings_rng(seed, customer["id"])
    plan = draw_plan(rng, customer["id"])
    context = HoldingsContext.of(seed, now, customer)
    holdings: Holdings = {kind: [] for kind in RESOURCE_KINDS}
    for number, (account_id, key_ids) in enumerate(plan.accounts):
        account = make_account(rng, account_id, plan.customer_id, ordinal * MAX_ACCOUNTS + number, context)
        holdings[ACCOUNTS].append(account)
        id_taken = any(key["key"]["key_type"] == "ID" for key in holdings[KEYS])
        for key_id, key_type in zip(key_ids, _key_types(rng, len(key_ids), id_taken), strict=True):
            serial = ordinal * KEY_SERIALS_PER_CUSTOMER + len(holdings[KEYS])
            holdings[KEYS].append(make_key(rng, key_id, account, key_type, serial, context))
    holdings[RECIPIENTS] = [make_recipient(rng, rid, plan.customer_id, context) for rid in plan.recipients]
    return holdings


class SeedResources:
    """The seed's accounts, keys and recipients: every id indexed at start, records made on first read.

    Records are never changed after they are made. Not thread-safe on its own: the Store calls
    it under its lock.
    """

    def __init__(self, seed: int, now: float, customers: Sequence[Record], fixed: Holdings) -> None:
        self._seed, self._now = seed, now
        self._customers = {customer["id"]: (ordinal, customer) for ordinal, customer in enumerate(customers)}
        self._made: set[str] = set()
        self._records: dict[str, dict[str, Record]] = {kind: {} for kind in RESOURCE_KINDS}
        self._owner_of: dict[str, str] = {}  # generated resource id -> the customer whose plan has it
        self._ids: dict[str, list[str]] = {kind: [] for kind in RESOURCE_KINDS}  # seed order
        self._ids_by_owner: dict[str, dict[str, list[str]]] = {kind: {} for kind in RESOURCE_KINDS}
        for kind, records in fixed.items():
            for record in records:
                self._records[kind][record["id"]] = record
                self._index(kind, record["id"], record[OWNER_FIELDS[kind]])
        for customer_id in self._customers:
            for kind, resource_id, owner in draw_plan(holdings_rng(seed, customer_id), customer_id).entries():
                self._owner_of[resource_id] = customer_id
                self._index(kind, resource_id, owner)

    def _index(self, kind: str, resource_id: str, owner: str) -> None:
        self._ids[kind].append(resource_id)
        self._ids_by_owner[kind].setdefault(owner.lower(), []).append(resource_id)

    def _make(self, customer_id: str) -> None:
        ordinal, customer = self._customers[customer_id]
        for kind, records in make_holdings(self._seed, ordinal, customer, self._now).items():
            self._records[kind].update((record["id"], record) for record in records)
        self._made.add(customer_id)

    def record(self, kind: str, resource_id: str) -> Record | None:
        """The seed record of `kind` with that (lower-case) id, or None."""
        owner = self._owner_of.get(resource_id)
        if owner is not None and owner not in self._made:
            self._make(owner)
        return self._records[kind].get(resource_id)

    def ids(self, kind: str, owners: Collection[str] | None = None) -> list[str]:
        """Ids of `kind` in the seed, all or those whose owner (see OWNER_FIELDS) is in `owners`."""
        if owners is None:
            return list(self._ids[kind])
        by_owner = self._ids_by_owner[kind]
        return [resource_id for owner in owners for resource_id in by_owner.get(owner, ())]
