"""Offloaders: password hashing and image resizing, through both clients."""

from __future__ import annotations

import asyncio

import argon2
import pytest

import attache
from conftest import Sidecar
from images import png


def test_hash_and_verify_under_the_policy(client: attache.Client) -> None:
    h = client.password.hash("correct horse")
    assert h.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert client.password.verify("correct horse", h) == (True, False)
    assert not client.password.verify("wrong horse", h).valid


def test_other_algorithms_and_cost_overrides_need_a_rehash(client: attache.Client) -> None:
    b = client.password.hash("pw", algorithm="bcrypt")
    assert b.startswith("$2b$04$")
    s = client.password.hash("pw", algorithm="scrypt", scrypt={"log_n": 10, "r": 8, "p": 1})
    assert s.startswith("$scrypt$ln=10,r=8,p=1$")
    assert client.password.verify("pw", s) == (True, True)  # not the policy's algorithm
    costly = client.password.hash("pw", argon2={"memory_kib": 2048})
    assert "m=2048" in costly and client.password.verify("pw", costly).needs_rehash


def test_hashes_interoperate_with_argon2_cffi(client: attache.Client) -> None:
    theirs = argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("s3cret")
    assert client.password.verify("s3cret", theirs).valid
    ours = client.password.hash("s3cret")
    assert argon2.PasswordHasher().verify(ours, "s3cret")


def test_password_bad_input(client: attache.Client) -> None:
    with pytest.raises(attache.InvalidArgument, match="unknown algorithm"):
        client.password.hash("x", algorithm="md5")  # type: ignore[arg-type]
    with pytest.raises(attache.InvalidArgument, match="72 bytes"):
        client.password.hash("x" * 73, algorithm="bcrypt")
    with pytest.raises(attache.InvalidArgument) as err:
        client.password.verify("x", "not a hash")
    assert err.value.code == "invalid_argument" and err.value.grpc_code == 3


def test_async_password(sidecar: Sidecar) -> None:
    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        hashes = await asyncio.gather(*(c.password.hash(f"pw{i}") for i in range(8)))
        checks = await asyncio.gather(*(c.password.verify(f"pw{i}", h) for i, h in enumerate(hashes)))
        assert all(v.valid and not v.needs_rehash for v in checks)
        with pytest.raises(attache.InvalidArgument):
            await c.password.verify("x", "$2b$99$nonsense")

    asyncio.run(main())


def test_resize_probe_and_many(client: attache.Client) -> None:
    source = png(64, 48)
    info = client.image.probe(source)
    assert (info.format, info.width, info.height, info.has_alpha, info.color_space) == ("png", 64, 48, False, "srgb")
    small = client.image.resize(source, width=32)
    assert (small.width, small.height, small.format) == (32, 24, "png")
    assert client.image.probe(small.data).width == 32
    box = client.image.resize(source, width=20, height=20, fit="cover", format="jpeg", quality=70)
    assert (box.width, box.height, box.format) == (20, 20, "jpeg") and box.data[:2] == b"\xff\xd8"
    assert box.input_bytes == len(source) and box.output_bytes == len(box.data)
    many = client.image.resize_many(source, [{"width": 16}, {"width": 8, "format": "webp"}])
    assert [(r.width, r.format) for r in many] == [(16, "png"), (8, "webp")]


def test_image_bad_input(client: attache.Client) -> None:
    with pytest.raises(attache.InvalidArgument):
        client.image.resize(b"nope", width=10)
    with pytest.raises(attache.InvalidArgument, match="unknown fit"):
        client.image.resize(png(4, 4), fit="squash")  # type: ignore[typeddict-item]
    with pytest.raises(attache.Unimplemented):
        client.image.resize(png(4, 4), format="avif")


def test_async_image(sidecar: Sidecar) -> None:
    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        r = await c.image.resize(png(40, 20, alpha=True), width=10)
        assert (r.width, r.height) == (10, 5)
        assert (await c.image.probe(r.data)).has_alpha
        assert len(await c.image.resize_many(png(8, 8), [{"width": 4}, {"width": 2}])) == 2
        with pytest.raises(attache.InvalidArgument):
            await c.image.probe(b"\x89PNG broken")

    asyncio.run(main())
