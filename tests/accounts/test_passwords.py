"""The cost of a password hash is a setting: production keeps argon2-cffi's, tests pay the least."""

from __future__ import annotations

import subprocess
import sys

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from flask import Flask

from registry.accounts import passwords
from registry.accounts.passwords import hash_password, needs_rehash, verify_password
from registry.config import Defaults

PASSWORD = "correct horse battery staple"


def _app(**cost: int) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Defaults)
    app.config.update(cost)
    return app


def _cost(password_hash: str) -> tuple[int, int, int]:
    parameters = extract_parameters(password_hash)
    return parameters.time_cost, parameters.memory_cost, parameters.parallelism


def test_production_hashes_at_rfc_9106s_low_memory_cost() -> None:
    low = RFC_9106_LOW_MEMORY
    assert (
        low.time_cost,
        low.memory_cost,
    ) == (Defaults.PASSWORD_HASH_TIME_COST, Defaults.PASSWORD_HASH_MEMORY_COST)
    assert low.parallelism == Defaults.PASSWORD_HASH_PARALLELISM


def test_the_cost_follows_the_settings_and_an_old_cost_is_rehashed() -> None:
    cheap = _app(
        PASSWORD_HASH_TIME_COST=CHEAPEST.time_cost,
        PASSWORD_HASH_MEMORY_COST=CHEAPEST.memory_cost,
        PASSWORD_HASH_PARALLELISM=CHEAPEST.parallelism,
    )
    with cheap.app_context():
        password_hash = hash_password(PASSWORD)
        assert _cost(password_hash) == (CHEAPEST.time_cost, CHEAPEST.memory_cost, CHEAPEST.parallelism)
        assert verify_password(password_hash, PASSWORD) and not verify_password(password_hash, "wrong")
        assert not needs_rehash(password_hash)
        # A hash made at another cost still verifies, and is made again at the next sign-in.
        other = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
        assert verify_password(other, PASSWORD) and needs_rehash(other)
        # An unknown address is checked against a dummy hash of the same cost: never valid.
        assert not verify_password(None, PASSWORD)


def test_importing_hashes_nothing() -> None:
    # The dummy hash for unknown addresses is made on first use, not when the module loads.
    probe = (
        "import argon2\n"
        "def refuse(*args, **kwargs): raise SystemExit('hashed at import')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import registry.accounts.passwords\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)


def test_an_unknown_address_costs_one_verification_from_the_first_sign_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The dummy hash is not hashed from anything: the first check of an unknown address does the
    # work of a real one (one verification at the configured cost), not a hash and a verification.
    cost = {"time_cost": CHEAPEST.time_cost + 1, "memory_cost": 16, "parallelism": 1}
    app = _app(**{f"PASSWORD_HASH_{name.upper()}": value for name, value in cost.items()})
    hashes: list[str] = []
    real_hash = PasswordHasher.hash

    def counted(self: PasswordHasher, password: str | bytes, *, salt: bytes | None = None) -> str:
        hashes.append("hash")
        return real_hash(self, password, salt=salt)

    monkeypatch.setattr(PasswordHasher, "hash", counted)
    with app.app_context():
        assert not verify_password(None, PASSWORD)
        assert not verify_password(None, "")
        assert hashes == []
        # A hash of the configured cost, with a real hash's salt and digest lengths: verifying it
        # is the same work as verifying a real password.
        real = extract_parameters(real_hash(PasswordHasher(**cost), PASSWORD))
        assert extract_parameters(passwords._dummy_hash(passwords._cost())) == real
