"""The instance's keys, wrapped under a passphrase, for a backup made with --with-keys.

The passphrase is stretched with Argon2id (argon2-cffi) into a 256-bit key that seals the
keys with AES-256-GCM (cryptography); the Argon2 parameters and salt are bound into the
sealing as associated data, so neither can be altered unnoticed. Anyone with the file and the
passphrase can read every item of the backup: keep them apart.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casefile.logic.backup import BackupError

SCHEME = "argon2id+aes-256-gcm/1"
MIN_PASSPHRASE = 12
TIME_COST = 3
MEMORY_KIB = 64 * 1024
PARALLELISM = 4


@dataclass(frozen=True)
class Keys:
    kek: str  # the KEK keyset (Tink JSON)
    signing_key_pem: str  # the custody signing key (PKCS#8 PEM)
    secret_key: str | None  # the Flask secret key, when it lives in the instance folder


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hash_secret_raw(
        passphrase.encode(),
        salt,
        time_cost=params["time_cost"],
        memory_cost=params["memory_kib"],
        parallelism=params["parallelism"],
        hash_len=32,
        type=Type.ID,
    )


def _associated(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def seal(keys: Keys, passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
    salt, nonce = os.urandom(16), os.urandom(12)
    params = {"time_cost": TIME_COST, "memory_kib": MEMORY_KIB, "parallelism": PARALLELISM}
    header = {"scheme": SCHEME, "salt": base64.b64encode(salt).decode(), **params}
    plain = json.dumps(
        {"kek": keys.kek, "signing_key_pem": keys.signing_key_pem, "secret_key": keys.secret_key}
    ).encode()
    sealed = AESGCM(_derive(passphrase, salt, params)).encrypt(nonce, plain, _associated(header))
    document = {
        "header": header,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return (json.dumps(document, indent=1) + "\n").encode()


def unseal(data: bytes, passphrase: str) -> Keys:
    try:
        document = json.loads(data)
        header = document["header"]
        if header["scheme"] != SCHEME:
            raise BackupError(f"keys: unknown scheme {header['scheme']!r}")
        params = {name: int(header[name]) for name in ("time_cost", "memory_kib", "parallelism")}
        salt = base64.b64decode(header["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError) as error:
        raise BackupError(f"keys: not a sealed key file ({error})") from None
    try:
        key = _derive(passphrase, salt, params)
        plain = AESGCM(key).decrypt(nonce, sealed, _associated(header))
    except InvalidTag:
        raise BackupError("keys: wrong passphrase (or the key file was altered)") from None
    fields = json.loads(plain)
    return Keys(fields["kek"], fields["signing_key_pem"], fields.get("secret_key"))
