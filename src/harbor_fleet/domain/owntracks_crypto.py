"""OwnTracks' payload encryption: libsodium's secretbox (XSalsa20-Poly1305) with a key made from the
passphrase typed into the app — its UTF-8 bytes, cut or padded with zeros to 32 bytes — and, on the wire,
`{"_type": "encrypted", "data": base64(nonce ‖ ciphertext)}` with a 24-byte random nonce first
(owntracks/android `support/EncryptionProvider.kt`)."""

import base64
import binascii

import nacl.exceptions
import nacl.secret
import nacl.utils

KEY_BYTES = nacl.secret.SecretBox.KEY_SIZE
NONCE_BYTES = nacl.secret.SecretBox.NONCE_SIZE


def _box(passphrase: str) -> nacl.secret.SecretBox:
    return nacl.secret.SecretBox(passphrase.encode()[:KEY_BYTES].ljust(KEY_BYTES, b"\0"))


def decrypt(passphrase: str, data: object) -> bytes | None:
    """The plaintext of an `encrypted` message's `data`, or None when it is not one this key opens."""
    if not isinstance(data, str):
        return None
    try:
        wire = base64.b64decode(data, validate=False)
        if len(wire) <= NONCE_BYTES:
            return None
        return bytes(_box(passphrase).decrypt(wire[NONCE_BYTES:], wire[:NONCE_BYTES]))
    except (binascii.Error, ValueError, nacl.exceptions.CryptoError):
        return None


def encrypt(passphrase: str, plaintext: bytes, nonce: bytes | None = None) -> str:
    """`data` for an `encrypted` message the app can open."""
    chosen = nonce if nonce is not None else nacl.utils.random(NONCE_BYTES)
    sealed = _box(passphrase).encrypt(plaintext, chosen)  # nonce ‖ ciphertext
    return base64.b64encode(bytes(sealed)).decode()
