"""OwnTracks' payload encryption as the app does it (owntracks/android `support/EncryptionProvider.kt`):
the passphrase's UTF-8 bytes cut or zero-padded to libsodium's 32-byte secretbox key, and on the wire
base64(24-byte nonce ‖ ciphertext)."""

import base64

import nacl.secret

from harbor_fleet.domain import owntracks_crypto


def app_encrypts(passphrase: str, plaintext: bytes, nonce: bytes) -> str:
    """What the app sends, built from libsodium directly."""
    key = passphrase.encode()[:32].ljust(32, b"\0")
    return base64.b64encode(nonce + nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext).decode()


def test_what_the_app_encrypts_is_decrypted() -> None:
    data = app_encrypts("short key", b'{"_type":"location"}', bytes(range(24)))
    assert owntracks_crypto.decrypt("short key", data) == b'{"_type":"location"}'


def test_a_passphrase_longer_than_the_key_is_cut_as_the_app_cuts_it() -> None:
    long = "k" * 40
    data = app_encrypts(long, b"x", bytes(24))
    assert owntracks_crypto.decrypt("k" * 32, data) == b"x"
    assert owntracks_crypto.decrypt("k" * 31, data) is None


def test_what_is_not_ours_to_open_is_none() -> None:
    data = app_encrypts("right", b"x", bytes(24))
    assert owntracks_crypto.decrypt("wrong", data) is None
    for garbage in ("", "AAAA", "not base64 at all!", 42, None, base64.b64encode(bytes(24)).decode()):
        assert owntracks_crypto.decrypt("right", garbage) is None


def test_what_we_encrypt_the_app_can_open() -> None:
    data = owntracks_crypto.encrypt("a key", b'[{"_type":"location"}]')
    wire = base64.b64decode(data)
    key = b"a key".ljust(32, b"\0")
    assert nacl.secret.SecretBox(key).decrypt(wire[24:], wire[:24]) == b'[{"_type":"location"}]'
    assert owntracks_crypto.encrypt("a key", b"same") != owntracks_crypto.encrypt("a key", b"same")  # fresh nonces
