"""Staff accounts and their sign-in sessions, kept by the room controller.

Counsellors open /control, facility staff /admin, evaluators /stats; each
signs in with an account of this room. Passwords are kept only as scrypt
hashes (stdlib ``hashlib.scrypt``; a random salt each), sign-in sessions only
as SHA-256 hashes of 256-bit tokens that expire after :data:`SESSION_HOURS`.
Neither ever goes on the bus's update stream: replies carry what the page
server needs, to the page server alone.

With the agency's directory (``[staff.directory]``, kiosk/access/ldap.py) a name
that is no local account goes to the directory, which the page server asks;
it then opens the sign-in here with ``staff.directory``. Such an account is
kept with :data:`DIRECTORY` in place of a hash (no password is kept at all);
local accounts take precedence and stay as the fallback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from kiosk.exceptions import CommandError
from kiosk.partners.commands import token_hash as digest
from kiosk.room.commands import (
    ADMIN,
    ALL_PHASES,
    STAFF,
    Arg,
    account_name,
    choice,
    password,
    spec,
    text,
)
from kiosk.room.feature import Feature, Handler
from kiosk.room.messages import Changes
from kiosk.room.store import Store, now

#: Staff roles and the pages each opens.
STAFF_PAGES = {"counsellor": ("control", "stats"), "admin": ("admin", "stats"),
               "evaluator": ("stats",)}
STAFF_ROLES = tuple(STAFF_PAGES)
#: A sign-in lasts a working day at most.
SESSION_HOURS = 12
MIN_PASSWORD = 10
#: scrypt cost: 16 MiB and some 40 ms a try on a room PC.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}
#: The accounts of a demo room (kiosk demo): name -> role.
DEMO_ACCOUNTS = {"beratung": "counsellor", "haustechnik": "admin", "auswertung": "evaluator"}
SIGNIN_FAILED = "Name oder Passwort stimmt nicht."
#: ``password_hash`` of an account of the agency's directory: its password is the
#: directory's business, and this is no scrypt hash, so no password ever matches it.
DIRECTORY = "directory"
#: Longest name of a directory account (AD's user principal names run long).
DIRECTORY_NAME_MAX = 64


def directory_name(name: str, value: Any) -> str:
    """A directory account's name: letters (any script), digits, ``-_.@``; lower case."""
    value = text(DIRECTORY_NAME_MAX, min_len=2)(name, value).lower()
    if not all(c.isalnum() or c in "-_.@" for c in value):
        raise CommandError("schema", f"'{name}' may hold only letters, digits, '-', '_', '.' "
                                     "and '@'")
    return value


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) of ``password``."""
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a :func:`hash_password` result (constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=SCRYPT["maxmem"], dklen=len(key) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), key)


#: Compared against when a name is unknown, so that a wrong name costs as long as a
#: wrong password and the answer tells nobody which names exist.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def password_matches(password: str, stored: str | None) -> None:
    """CommandError unless ``password`` matches the stored hash; an unknown account
    (``stored`` None) costs as long as a wrong password and is told apart by nothing."""
    if not check_password(password, stored or _DUMMY) or stored is None:
        raise CommandError("signin_failed", SIGNIN_FAILED)


def open_signin(store: Store, table: str, **who: Any) -> tuple[str, str]:
    """A fresh sign-in in ``table`` (staff or partner sign-ins), kept as the token's hash
    for :data:`SESSION_HOURS`; sign-ins already expired go. Returns (token, expires)."""
    token = secrets.token_urlsafe(32)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=SESSION_HOURS)).isoformat(
        timespec="seconds")
    with store.transaction() as db:
        db.conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", [now()])
        db[table].insert({"token_hash": digest(token), **who, "created_at": now(),
                          "expires_at": expires})
    return token, expires


def signed_in(store: Store, table: str, columns: str, token: str) -> tuple:
    """The ``columns`` of the sign-in a token belongs to; CommandError once it expired
    or was ended."""
    row = store.db.execute(f"SELECT {columns}, expires_at FROM {table} WHERE token_hash = ?",
                           [digest(token)]).fetchone()
    if row is None:
        raise CommandError("signed_out", "this sign-in is not (or no longer) valid")
    if row[-1] <= now():
        raise CommandError("signed_out", "this sign-in has expired")
    return tuple(row[:-1])


class StaffCommands(Feature):
    """Handlers for staff accounts and sign-ins; a feature of the room controller."""

    specs = (
        spec("staff.add", ADMIN, ALL_PHASES, "A staff account (its password is kept as a hash).",
              name=Arg(account_name), role=Arg(choice(*STAFF_ROLES)),
              password=Arg(password(MIN_PASSWORD))),
        spec("staff.remove", ADMIN, ALL_PHASES, "Delete a staff account and end its sign-ins.",
              name=Arg(directory_name)),
        spec("staff.password", ADMIN, ALL_PHASES, "Set an account's password; its sign-ins end.",
              name=Arg(directory_name), password=Arg(password(MIN_PASSWORD))),
        spec("staff.list", ADMIN, ALL_PHASES, "The staff accounts: names and roles."),
        spec("staff.signin", STAFF, ALL_PHASES, "Check a name and password; open a sign-in.",
              name=Arg(text(DIRECTORY_NAME_MAX)), password=Arg(password(1))),
        spec("staff.directory", ADMIN, ALL_PHASES, "Open a sign-in for an account that the "
             "agency's directory vouched for (sent by /login, which asked it).",
             name=Arg(directory_name), role=Arg(choice(*STAFF_ROLES))),
        spec("staff.verify", STAFF, ALL_PHASES, "Whose sign-in a token is.", token=Arg(text(200))),
        spec("staff.signout", STAFF, ALL_PHASES, "End a sign-in.", token=Arg(text(200))),
    )


    def handlers(self) -> dict[str, Handler]:
        return {"staff.add": self._staff_add, "staff.remove": self._staff_remove,
                "staff.password": self._staff_password, "staff.list": self._staff_list,
                "staff.signin": self._staff_signin, "staff.directory": self._staff_directory,
                "staff.verify": self._staff_verify,
                "staff.signout": self._staff_signout}

    def _account(self, name: str) -> dict[str, Any] | None:
        rows = list(self.store.db["staff"].rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def _staff_add(self, args: dict[str, Any]) -> Changes:
        if self._account(args["name"]) is not None:
            raise CommandError("state", f"there is already an account named {args['name']!r}")
        with self.store.transaction():
            self.store.db["staff"].insert({
                "name": args["name"], "role": args["role"],
                "password_hash": hash_password(args["password"]), "created_at": now()})
        return []

    def _staff_remove(self, args: dict[str, Any]) -> Changes:
        if self._account(args["name"]) is None:
            raise CommandError("state", f"there is no account named {args['name']!r}")
        with self.store.transaction() as db:
            db.conn.execute("DELETE FROM staff_sessions WHERE name = ?", [args["name"]])
            db.conn.execute("DELETE FROM staff WHERE name = ?", [args["name"]])
        return []

    def _staff_password(self, args: dict[str, Any]) -> Changes:
        """A new password; every sign-in of that account ends."""
        account = self._account(args["name"])
        if account is None:
            raise CommandError("state", f"there is no account named {args['name']!r}")
        if account["password_hash"] == DIRECTORY:
            raise CommandError("state", f"{args['name']!r} is an account of the agency's "
                                        "directory: its password is changed there")
        with self.store.transaction() as db:
            db.conn.execute("UPDATE staff SET password_hash = ? WHERE name = ?",
                            [hash_password(args["password"]), args["name"]])
            db.conn.execute("DELETE FROM staff_sessions WHERE name = ?", [args["name"]])
        return []

    def _staff_list(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """Each account: role, ``source`` (local or directory) and open sign-ins."""
        signins = dict(self.store.db.execute(
            "SELECT name, count(*) FROM staff_sessions WHERE expires_at > ? GROUP BY name",
            [now()]).fetchall())
        accounts = [{"name": r["name"], "role": r["role"], "created_at": r["created_at"],
                     "source": "directory" if r["password_hash"] == DIRECTORY else "local",
                     "signins": signins.get(r["name"], 0)}
                    for r in self.store.db["staff"].rows_where(order_by="name")]
        return [], {"accounts": accounts}

    def _staff_signin(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """A local account's sign-in; ``not_local`` when the name is none (the page server
        then asks the agency's directory, if the room has one)."""
        account = self._account(args["name"].lower())
        if account is not None and account["password_hash"] == DIRECTORY:
            account = None
        try:
            password_matches(args["password"], account["password_hash"] if account else None)
        except CommandError:
            if account is None:
                raise CommandError("not_local", SIGNIN_FAILED) from None
            raise
        return [], self._open(account["name"], account["role"])

    def _open(self, name: str, role: str) -> dict[str, Any]:
        token, expires = open_signin(self.store, "staff_sessions", name=name, role=role)
        return {"token": token, "name": name, "role": role, "expires": expires}

    def _staff_directory(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """A sign-in for a directory account, kept as an account without a password; when
        the directory now gives another role, the sign-ins in the old one end."""
        name, role = args["name"], args["role"]
        account = self._account(name)
        if account is not None and account["password_hash"] != DIRECTORY:
            raise CommandError("state", f"{name!r} is a local account of this room: it signs "
                                        "in with its own password")
        with self.store.transaction() as db:
            if account is None:
                db["staff"].insert({"name": name, "role": role, "password_hash": DIRECTORY,
                                    "created_at": now()})
            elif account["role"] != role:
                db.conn.execute("UPDATE staff SET role = ? WHERE name = ?", [role, name])
                db.conn.execute("DELETE FROM staff_sessions WHERE name = ?", [name])
        return [], self._open(name, role)

    def _staff_verify(self, args: dict[str, Any]) -> tuple[Changes, dict[str, Any]]:
        """Who a sign-in token belongs to; refused once expired or signed out."""
        name, role = signed_in(self.store, "staff_sessions", "name, role", args["token"])
        return [], {"name": name, "role": role, "pages": list(STAFF_PAGES[role])}

    def _staff_signout(self, args: dict[str, Any]) -> Changes:
        with self.store.transaction() as db:
            db.conn.execute("DELETE FROM staff_sessions WHERE token_hash = ?",
                            [digest(args["token"])])
        return []
