"""Interop peer: PyPI bcrypt and argon2-cffi.

  python vectors.py make    prints [{lib, password, hash}] made by them
  python vectors.py check   reads [{password, hash}] on stdin, prints [bool]
"""
import json
import sys

import argon2
import bcrypt

PASSWORDS = ["correct horse battery staple", "pässwörd ✓", "long-" * 14]


def make():
    low = dict(time_cost=1, memory_cost=1024, parallelism=1)
    out = []
    for pw in PASSWORDS:
        raw = pw.encode()
        out.append({"lib": "python bcrypt 2b", "password": pw, "hash": bcrypt.hashpw(raw, bcrypt.gensalt(4)).decode()})
        out.append({"lib": "python bcrypt 2a", "password": pw, "hash": bcrypt.hashpw(raw, bcrypt.gensalt(4, b"2a")).decode()})
        out.append({"lib": "argon2-cffi argon2id", "password": pw, "hash": argon2.PasswordHasher(**low).hash(pw)})
        out.append({"lib": "argon2-cffi argon2i", "password": pw, "hash": argon2.PasswordHasher(type=argon2.Type.I, **low).hash(pw)})
    return out


def verify(password, hashed):
    if hashed.startswith("$2"):
        # Python's bcrypt refuses passwords over 72 bytes; PHP truncates.
        return bcrypt.checkpw(password.encode()[:72], hashed.encode())
    try:
        return argon2.PasswordHasher().verify(hashed, password)
    except argon2.exceptions.VerifyMismatchError:
        return False


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "make":
        print(json.dumps(make(), ensure_ascii=False))
    elif mode == "check":
        print(json.dumps([verify(c["password"], c["hash"]) for c in json.load(sys.stdin)]))
    else:
        sys.exit("usage: python vectors.py make|check")
