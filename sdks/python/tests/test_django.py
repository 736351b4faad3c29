"""The Django hashers, in a real (minimal) Django project: make_password,
check_password, Django's own hashes verified and upgraded."""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from conftest import Sidecar


@pytest.fixture(scope="module")
def django_project(sidecar: Sidecar) -> Iterator[None]:
    os.environ["ATTACHE_SOCKET"] = sidecar.socket
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_settings"
    import django

    django.setup()
    import attache.django

    attache.django.reset()
    yield
    attache.django.reset()


def test_make_and_check_password(django_project: None) -> None:
    from django.contrib.auth.hashers import check_password, identify_hasher, is_password_usable, make_password

    encoded = make_password("correct horse")
    assert encoded.startswith("argon2$argon2id$v=19$m=1024,t=1,p=1$")
    assert is_password_usable(encoded)
    assert identify_hasher(encoded).__class__.__name__ == "AttacheArgon2Hasher"
    assert check_password("correct horse", encoded)
    assert not check_password("wrong horse", encoded)
    summary = identify_hasher(encoded).safe_summary(encoded)
    assert summary["memory cost"] == 1024
    assert not identify_hasher(encoded).must_update(encoded)


def test_djangos_own_argon2_hash_is_verified_and_upgraded(django_project: None) -> None:
    from django.contrib.auth.hashers import Argon2PasswordHasher, check_password, make_password

    theirs = Argon2PasswordHasher().encode("s3cret", "saltsaltsaltsalt")  # Django's default costs
    assert theirs.startswith("argon2$argon2id$v=19$m=102400,t=2,p=8$")
    # Django calls the setter (User.set_password) with the password when the hash must be upgraded.
    upgraded: list[str] = []
    assert check_password("s3cret", theirs, setter=lambda raw: upgraded.append(make_password(raw)))
    assert len(upgraded) == 1 and upgraded[0].startswith("argon2$argon2id$v=19$m=1024,t=1,p=1$")
    assert check_password("s3cret", upgraded[0], setter=upgraded.append) and len(upgraded) == 1
    # And Django's own hasher reads ours.
    assert Argon2PasswordHasher().verify("s3cret", upgraded[0])
    assert not check_password("nope", theirs, setter=upgraded.append) and len(upgraded) == 1


def test_pbkdf2_hash_is_verified_by_django_and_upgraded(django_project: None) -> None:
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password

    theirs = PBKDF2PasswordHasher().encode("legacy", "saltsaltsalt", iterations=1000)
    upgraded: list[str] = []
    assert check_password("legacy", theirs, setter=lambda raw: upgraded.append(make_password(raw)))
    assert len(upgraded) == 1 and upgraded[0].startswith("argon2$argon2id$")
    assert not check_password("wrong", theirs)


def test_bcrypt_sha256_both_ways(django_project: None) -> None:
    from django.contrib.auth.hashers import BCryptSHA256PasswordHasher, check_password, make_password

    ours = make_password("long " * 30, hasher="bcrypt_sha256")
    assert ours.startswith("bcrypt_sha256$$2b$04$")
    assert BCryptSHA256PasswordHasher().verify("long " * 30, ours)
    assert check_password("long " * 30, ours) and not check_password("long", ours)
    theirs = BCryptSHA256PasswordHasher().encode("pw", BCryptSHA256PasswordHasher().salt())  # cost 12
    upgraded: list[str] = []

    def setter(raw: str) -> None:
        upgraded.append(make_password(raw, hasher="bcrypt_sha256"))

    assert check_password("pw", theirs, setter=setter, preferred="bcrypt_sha256")
    assert len(upgraded) == 1 and upgraded[0].startswith("bcrypt_sha256$$2b$04$")
    assert check_password("pw", upgraded[0], setter=setter, preferred="bcrypt_sha256")
    assert len(upgraded) == 1  # the fresh hash needs no upgrade
