"""Django password hashers that hash and verify on the sidecar.

    PASSWORD_HASHERS = [
        "attache.django.AttacheArgon2Hasher",
        "attache.django.AttacheBCryptSHA256Hasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

The hashes are Django's own formats (``argon2$argon2id$…``,
``bcrypt_sha256$$2b$…``), so these hashers read hashes Django's
Argon2PasswordHasher and BCryptSHA256PasswordHasher made, and Django's read
theirs: list ours *instead of* those (Django keeps one hasher per
algorithm name, the last listed). A hash whose costs differ from the
sidecar's policy ``must_update``, so Django stores a fresh one at the next
login. The sidecar cannot verify PBKDF2 or Django's scrypt format: keep
Django's hashers for those listed after ours, and Django upgrades such
hashes to the first hasher at the next login.

The client comes from ``settings.ATTACHE`` (``{"socket": …, "timeout": …}``),
else the environment's defaults; it is made once per process and shared.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.translation import gettext_noop as _

from .client import Client

_lock = threading.Lock()
_client: Client | None = None
_policies: dict[str, str] = {}


def client() -> Client:
    """The process's client for the hashers, made from ``settings.ATTACHE``."""
    global _client
    with _lock:
        if _client is None:
            options: dict[str, Any] = dict(getattr(settings, "ATTACHE", {}) or {})
            _client = Client(socket=options.get("socket"), timeout=options.get("timeout"))
        return _client


def _policy(algorithm: str) -> str:
    """The sidecar's algorithm-and-costs prefix for new hashes (``$argon2id$v=19$m=…,t=…,p=…``),
    learnt once per process from a hash of a throwaway password."""
    with _lock:
        known = _policies.get(algorithm)
    if known is None:
        made = client().password.hash("attache-policy-probe", algorithm=algorithm)  # type: ignore[arg-type]
        known = _prefix(made)
        with _lock:
            _policies[algorithm] = known
    return known


def _prefix(phc: str) -> str:
    """A hash without its salt and digest: what says its algorithm and costs."""
    if phc.startswith("$2"):
        return phc[:7]  # $2b$12$
    return "$".join(phc.split("$")[:4])


def reset() -> None:
    """Forgets the client and the learnt policies (after a settings change)."""
    global _client
    with _lock:
        _client = None
        _policies.clear()


class AttacheArgon2Hasher(BasePasswordHasher):
    """argon2id on the sidecar, in Django's ``argon2$argon2id$v=19$m=…,t=…,p=…$salt$hash`` form."""

    algorithm = "argon2"

    def salt(self) -> str:
        return ""  # the sidecar salts each hash itself

    def encode(self, password: str, salt: str) -> str:
        return "argon2" + client().password.hash(password, algorithm="argon2id")

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, rest = encoded.split("$", 1)
        assert algorithm == self.algorithm
        return client().password.verify(password, "$" + rest).valid

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, variety, version, params, salt, digest = encoded.split("$")
        costs = dict(p.split("=") for p in params.split(","))
        return {
            "algorithm": algorithm,
            "hash": digest,
            "memory_cost": int(costs["m"]),
            "parallelism": int(costs["p"]),
            "salt": salt,
            "time_cost": int(costs["t"]),
            "variety": variety,
            "version": int(version.removeprefix("v=")),
        }

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        d = self.decode(encoded)
        return {
            _("algorithm"): d["algorithm"],
            _("variety"): d["variety"],
            _("version"): d["version"],
            _("memory cost"): d["memory_cost"],
            _("time cost"): d["time_cost"],
            _("parallelism"): d["parallelism"],
            _("salt"): mask_hash(d["salt"]),
            _("hash"): mask_hash(d["hash"]),
        }

    def must_update(self, encoded: str) -> bool:
        return _prefix("$" + encoded.split("$", 1)[1]) != _policy("argon2id")

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass  # verifying costs what the stored hash's own parameters cost


class AttacheBCryptSHA256Hasher(BasePasswordHasher):
    """bcrypt on the sidecar over the password's SHA-256 (as Django's
    BCryptSHA256PasswordHasher: no 72-byte limit), as ``bcrypt_sha256$$2b$…``."""

    algorithm = "bcrypt_sha256"

    def salt(self) -> str:
        return ""

    @staticmethod
    def _digest(password: str) -> str:
        return hashlib.sha256(password.encode()).hexdigest()

    def encode(self, password: str, salt: str) -> str:
        return "bcrypt_sha256$" + client().password.hash(self._digest(password), algorithm="bcrypt")

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, data = encoded.split("$", 1)
        assert algorithm == self.algorithm
        return client().password.verify(self._digest(password), data).valid

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, empty, algostr, work_factor, data = encoded.split("$", 4)
        return {"algorithm": algorithm, "algostr": algostr, "checksum": data[22:], "salt": data[:22], "work_factor": int(work_factor)}

    def safe_summary(self, encoded: str) -> dict[str, Any]:
        d = self.decode(encoded)
        return {
            _("algorithm"): d["algorithm"],
            _("work factor"): d["work_factor"],
            _("salt"): mask_hash(d["salt"]),
            _("checksum"): mask_hash(d["checksum"]),
        }

    def must_update(self, encoded: str) -> bool:
        return _prefix(encoded.split("$", 1)[1]) != _policy("bcrypt")

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass
