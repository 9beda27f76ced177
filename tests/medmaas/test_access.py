"""API keys: shown once, stored as hashes, revoked at once, checked against every stored key."""

import json
import stat

import pytest

from medmaas.access import MAX_KEY_LENGTH, KeyRing, KeyStore, KeyStoreError


@pytest.fixture
def store(tmp_path) -> KeyStore:
    return KeyStore(tmp_path / "keys" / "api_keys.json")


def test_a_created_key_is_recognised_by_name_and_only_its_hash_is_stored(store):
    secret = store.create("ward-7")
    ring = KeyRing(store)
    assert ring.name_of(secret) == "ward-7"
    assert ring.name_of(secret + "x") is None and ring.name_of("") is None
    text = store.path.read_text()
    assert secret not in text and secret[3:] not in text
    assert json.loads(text)["keys"][0]["name"] == "ward-7"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_revoked_key_stops_at_the_next_check_and_the_others_keep_working(store):
    ring = KeyRing(store)
    first, second = store.create("first"), store.create("second")
    assert ring.name_of(first) == "first"
    store.revoke("first")
    assert ring.name_of(first) is None and ring.name_of(second) == "second"
    assert [k.active for k in store.read()] == [False, True]
    replacement = store.create("first")  # the name is free again once revoked
    assert ring.name_of(replacement) == "first" and replacement != first


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda s: s.create("first"), "already named first"),
        (lambda s: s.create("bad name!"), "a key name is"),
        (lambda s: s.create(""), "a key name is"),
        (lambda s: s.revoke("nobody"), "no active key is named nobody"),
    ],
)
def test_bad_key_commands_say_why(store, action, message):
    store.create("first")
    with pytest.raises(KeyStoreError, match=message):
        action(store)


def test_an_oversized_or_missing_credential_is_refused_before_hashing(store):
    store.create("first")
    ring = KeyRing(store)
    assert ring.name_of("x" * (MAX_KEY_LENGTH + 1)) is None
    assert KeyRing(KeyStore(store.path.with_name("absent.json"))).active_count() == 0


def test_a_corrupt_keys_file_is_an_error_naming_it(store):
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(KeyStoreError, match="not a keys file"):
        store.read()
