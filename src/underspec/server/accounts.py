"""Team names and passwords: argon2 hashes, constant-time checks, and limits on what a client
that does not know a password can cost the server.

An argon2 check costs tens of milliseconds and 64 MB by design, which would cap the reveal
endpoint at a few dozen requests per second. After one successful check, the process remembers
an HMAC of the password under a random per-process key, tied to the stored hash (so that a
password change invalidates it), and later requests with that password pass in constant time,
without argon2 and without waiting on any throttle: a right password is never slowed down by
someone else's wrong ones.

Every other attempt (a wrong password, an unknown team, a first login) needs argon2, and pays
for it three ways, so that guessing stays slow and cheap for the server:

- failures are counted per client address *and* team name (team names are public on the
  leaderboard: counting per name alone would let anyone lock a team out); after a few, the
  pair must wait, doubling up to ``max_delay``;
- each client address has a bucket of argon2 checks that refills at ``checks_per_second``;
- at most ``max_waiting`` checks wait for the single argon2 worker; more are refused at once.

The failure and bucket tables are bounded (least recently used entries are dropped), so random
names cannot grow the server's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Checked for unknown names, so that they take the same time as a wrong password. The hash of a
# random string nobody kept, with the hasher's parameters (computing one at import cost 0.35 s).
_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$FnJiE0rR35x5+NjEcRaxrA$f8XsDjO8vyPsF+j9ggwTRpTyYP+2ykPezOeHokTXSfU"
MIN_PASSWORD, MAX_PASSWORD, MAX_NAME = 8, 1024, 64


class CredentialsError(ValueError):
    """A credential field that no team could have (too long, control characters)."""


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password``."""
    if len(password) < MIN_PASSWORD:
        raise CredentialsError(f"password: expected at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise CredentialsError(f"password: expected at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


# Unicode categories refused in names: controls (Cc), format characters such as bidi overrides
# and zero-width joiners (Cf), separators other than the plain space (Zl, Zp), unassigned (Cn),
# private use (Co) and surrogates (Cs).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"}


def normalise_name(name: str, field: str = "team name") -> str:
    """A team name as stored: NFKC-normalised, spaces trimmed; refuses what no name may hold.

    Raises
    ------
    CredentialsError
        Empty or longer than :data:`MAX_NAME` characters, or holding control, format (bidi
        override, zero-width) or unassigned characters; its message names ``field``.
    """
    if len(name) > 4 * MAX_NAME:  # before normalising: NFKC can expand a character 18-fold
        raise CredentialsError(f"{field}: expected 1 to {MAX_NAME} characters")
    name = unicodedata.normalize("NFKC", name).strip()
    if not name or len(name) > MAX_NAME:
        raise CredentialsError(f"{field}: expected 1 to {MAX_NAME} characters")
    bad = next((c for c in name if unicodedata.category(c) in _REFUSED_CATEGORIES
                or (unicodedata.category(c) == "Zs" and c != " ")), None)
    if bad is not None:
        raise CredentialsError(f"{field}: character U+{ord(bad):04X} ({unicodedata.category(bad)}) "
                               "not allowed; expected letters, digits, punctuation and spaces")
    return name


def name_skeleton(name: str) -> str:
    """What a name looks like: case-folded, with each character that is confusable with a Latin
    one (Cyrillic ``а``, Greek ``ο``, ...) replaced by it. Two names with the same skeleton
    look alike on the leaderboard (Unicode TR 39's idea, on the confusables table of
    ``confusable_homoglyphs``)."""
    from confusable_homoglyphs import confusables

    out = []
    for char in name.casefold():
        found = confusables.is_confusable(char, greedy=True, preferred_aliases=["latin", "common"])
        homoglyphs = found[0]["homoglyphs"] if found else []
        latin = [h["c"] for h in homoglyphs if h["c"].isascii()]
        out.append(min(latin) if latin and not char.isascii() else char)
    return "".join(out)


@dataclass(frozen=True)
class Credentials:
    """A username and password as a request sent them, and the client address that sent them."""

    name: str
    password: str
    client: str = ""

    @classmethod
    def parse(cls, name: str, password: str, client: str = "") -> Credentials:
        """Credentials with bounded fields; a name no team could have raises
        :class:`CredentialsError` (before any database or argon2 work)."""
        if len(password) > MAX_PASSWORD or "\0" in password:
            raise CredentialsError(f"password: expected at most {MAX_PASSWORD} characters, no NUL")
        return cls(normalise_name(name, "username"), password, client)


class BoundedTable(OrderedDict):
    """A dict that forgets its least recently written entries beyond ``size``."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class Verifier:
    """Checks passwords against stored hashes and bounds what failing clients may cost.

    Parameters
    ----------
    free_failures : int
        Failed attempts a (client, team) pair may make before each new one must wait.
    base_delay, max_delay : float
        Seconds to wait after the first throttled failure, doubling up to ``max_delay``.
    checks_per_second, burst : float
        Each client address may start ``burst`` argon2 checks at once, then
        ``checks_per_second`` on average.
    max_waiting : int
        argon2 checks that may wait for the worker at once; more are refused (503).
    table_size : int
        Entries kept in each of the failure and bucket tables (least recently used dropped).
    """

    def __init__(self, free_failures: int = 5, base_delay: float = 1.0, max_delay: float = 300.0,
                 checks_per_second: float = 5.0, burst: float = 30.0, max_waiting: int = 32,
                 table_size: int = 10_000):
        self.free_failures, self.base_delay, self.max_delay = free_failures, base_delay, max_delay
        self.checks_per_second, self.burst, self.max_waiting = checks_per_second, burst, max_waiting
        self._key = secrets.token_bytes(32)
        self._known: BoundedTable = BoundedTable(table_size)  # team name -> MAC of its right password
        self._failures: BoundedTable = BoundedTable(table_size)  # (client, name) -> (count, last)
        self._buckets: BoundedTable = BoundedTable(table_size)  # client -> (tokens, last)
        self._lock = threading.Lock()
        self.waiting = 0

    def _mac(self, stored_hash: str, password: str) -> bytes:
        return hmac.new(self._key, f"{stored_hash}\0{password}".encode(), hashlib.sha256).digest()

    def fingerprint(self, creds: Credentials, stored_hash: str | None) -> bytes:
        """A keyed digest of the password against ``stored_hash`` (never the password itself)."""
        return self._mac(stored_hash or "", creds.password)

    def known(self, creds: Credentials, stored_hash: str | None) -> bool:
        """True when this password was already checked right against ``stored_hash`` (no
        argon2, constant time)."""
        mac = self._mac(stored_hash or "", creds.password)
        known = self._known.get(creds.name)
        return bool(stored_hash) and known is not None and hmac.compare_digest(known, mac)

    def wait_seconds(self, creds: Credentials) -> float:
        """How long this client must wait before its next attempt on this name (0: now)."""
        with self._lock:
            count, last = self._failures.get((creds.client, creds.name), (0, 0.0))
        if count < self.free_failures:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2 ** (count - self.free_failures))
        return max(0.0, last + delay - time.monotonic())

    def take_check(self, client: str) -> float:
        """Take one argon2 check from ``client``'s bucket: 0 when taken, else the seconds until
        one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.checks_per_second)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return (1 - tokens) / self.checks_per_second
            self._buckets[client] = (tokens - 1, now)
            return 0.0

    def check(self, creds: Credentials, stored_hash: str | None) -> bool:
        """The full argon2 check; records the outcome (remembers a right password, counts a
        failure for the client and name). A missing team (``stored_hash`` None) costs the same
        argon2 work as a wrong password, so the answer time does not tell which names exist."""
        try:
            ok = _hasher.verify(stored_hash or _DUMMY, creds.password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            ok = False
        with self._lock:
            if ok:
                self._known[creds.name] = self._mac(stored_hash, creds.password)
                self._failures.pop((creds.client, creds.name), None)
            else:
                count, _ = self._failures.get((creds.client, creds.name), (0, 0.0))
                self._failures[(creds.client, creds.name)] = (count + 1, time.monotonic())
        return ok


class Signer:
    """Signed cookie values and CSRF tokens under one secret key.

    A session cookie is ``value|time|mac``: it cannot be forged without the key and expires
    after ``max_age`` seconds. A CSRF token is the MAC of a random per-browser cookie (the
    "signed double submit" pattern): a page on another site can make the browser send the
    cookie, but cannot read it to compute the token that the form must carry.
    """

    def __init__(self, key: bytes, max_age: float = 12 * 3600):
        self.key, self.max_age = key, max_age

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def sign(self, value: str) -> str:
        """``value`` with the current time and a MAC; ``value`` must not contain ``|``."""
        stamped = f"{value}|{int(time.time())}"
        return f"{stamped}|{self._mac('session', stamped)}"

    def unsign(self, token: str | None) -> str | None:
        """The value of a token made by :meth:`sign`, or None if forged, malformed or expired."""
        if not token or token.count("|") < 2:
            return None
        stamped, mac = token.rsplit("|", 1)
        if not hmac.compare_digest(mac, self._mac("session", stamped)):
            return None
        value, stamp = stamped.rsplit("|", 1)
        if not stamp.isdigit() or time.time() - int(stamp) > self.max_age:
            return None
        return value

    def csrf_token(self, browser: str) -> str:
        """The token that forms must carry for the browser cookie ``browser``."""
        return self._mac("csrf", browser)

    def csrf_ok(self, browser: str | None, token: str | None) -> bool:
        return bool(browser and token) and hmac.compare_digest(self.csrf_token(browser), token)
