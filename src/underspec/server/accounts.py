"""Team passwords: argon2 hashes, constant-time checks, and slowing down repeated failures.

An argon2 check costs tens of milliseconds by design, which would cap the reveal endpoint at a
few dozen requests per second. After one successful check, the process remembers an HMAC of
the password under a random per-process key, tied to the stored hash (so that a password change
invalidates it), and later requests are compared to it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_hex(16))  # checked for unknown names, to take the same time
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """The argon2id hash to store for ``password``."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: expected at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


class Verifier:
    """Checks passwords against stored hashes; throttles names with repeated failures.

    Parameters
    ----------
    free_failures : int
        Failed attempts allowed for a name before each new attempt must wait.
    base_delay : float
        Seconds to wait after the first throttled failure; doubles with each further one, up
        to ``max_delay``.
    """

    def __init__(self, free_failures: int = 5, base_delay: float = 1.0, max_delay: float = 300.0):
        self.free_failures, self.base_delay, self.max_delay = free_failures, base_delay, max_delay
        self._key = secrets.token_bytes(32)
        self._known: dict[str, bytes] = {}
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _mac(self, stored_hash: str, password: str) -> bytes:
        return hmac.new(self._key, f"{stored_hash}\0{password}".encode(), hashlib.sha256).digest()

    def wait_seconds(self, name: str) -> float:
        """How long ``name`` must wait before its next attempt (0 when it may try now)."""
        with self._lock:
            count, last = self._failures.get(name, (0, 0.0))
        if count < self.free_failures:
            return 0.0
        delay = min(self.max_delay, self.base_delay * 2 ** (count - self.free_failures))
        return max(0.0, last + delay - time.monotonic())

    def check(self, name: str, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored_hash``; records failures for ``name``.

        A missing team (``stored_hash`` None) costs the same argon2 work as a wrong password,
        so the answer time does not tell which team names exist.
        """
        mac = self._mac(stored_hash or "", password)
        known = self._known.get(name)
        if stored_hash and known is not None and hmac.compare_digest(known, mac):
            ok = True
        else:
            try:
                ok = _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
            except (VerificationError, InvalidHashError):
                ok = False
        with self._lock:
            if ok:
                self._known[name] = mac
                self._failures.pop(name, None)
            else:
                count, _ = self._failures.get(name, (0, 0.0))
                self._failures[name] = (count + 1, time.monotonic())
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
