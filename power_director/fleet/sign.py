"""Signed fleet messages: an agent's samples, info and clock replies carry an HMAC-SHA256 of the
topic and the message under the agent's key (docs/fleet.md, "Signed samples").

A signed message is the JSON object with two more keys, last: ``"key"`` (the key id) and then
``"mac"`` (64 hex digits)::

    {"samples":[...],"epoch":1765000000000000000,"key":"node1","mac":"<hex>"}

The MAC is HMAC-SHA256 (RFC 2104 with SHA-256, Python's ``hmac``) over the topic, a newline, and
the bytes of the message up to the ``,"mac"`` that ends it, with a closing ``}``: it binds the
samples to the meter's topic, so a signed message moved to another topic is refused too. Replays
are held by the sequence numbers (a sample number already taken changes nothing) and by the
journal's ``epoch``: numbering may start again only in a newer epoch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path

import orjson

from analyzer_drivers.formats.errors import ConfigError, WireError

MIN_KEY_CHARS = 32  # e.g. ``openssl rand -hex 32`` (64 characters)
_MAC_TAIL = len(b',"mac":"') + 64 + len(b'"}')


class ForgedMessage(WireError):
    """A message that is not signed with the key we expect, or is signed wrongly."""


def load_key(path: str, where: str) -> bytes:
    """The key in a file (its text, stripped); a ConfigError naming ``where`` otherwise."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read the signing key {path}: {exc}") from exc
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(f"{where}: the signing key in {path} has {len(key)} characters; it needs at least "
                          f"{MIN_KEY_CHARS} (openssl rand -hex 32 > {path})")
    return key.encode()


def _mac(key: bytes, topic: str, body: bytes) -> str:
    return hmac.new(key, topic.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def sign(key_id: str, key: bytes, topic: str, body: bytes) -> bytes:
    """``body`` (a JSON object's bytes) with ``key`` and ``mac`` added."""
    keyed = body[:-1] + b',"key":' + json.dumps(key_id).encode() + b"}"
    return keyed[:-1] + b',"mac":"' + _mac(key, topic, keyed).encode() + b'"}'


def verify(keys: Mapping[str, bytes], topic: str, payload: bytes) -> bytes:
    """The message without its MAC, if one of ``keys`` (by id) signed it for ``topic``;
    ForgedMessage with the reason otherwise (one of a few words: they are counted by reason)."""
    if len(payload) <= _MAC_TAIL or not payload.startswith(b"{") or payload[-_MAC_TAIL:-66] != b',"mac":"' \
            or not payload.endswith(b'"}'):
        raise ForgedMessage("unsigned")
    keyed = payload[:-_MAC_TAIL] + b"}"
    # The key id is the last member (``sign``): a quote inside a JSON string is escaped, so the
    # last ``,"key":`` is the one sign wrote; the MAC then covers the whole object.
    _, keyed_by, key_json = keyed.rpartition(b',"key":')
    try:
        key_id = orjson.loads(key_json[:-1]) if keyed_by else None
    except orjson.JSONDecodeError:
        raise ForgedMessage("not a signed JSON object") from None
    key = keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        raise ForgedMessage("unknown key id")
    if not hmac.compare_digest(_mac(key, topic, keyed).encode(), payload[-66:-2]):
        raise ForgedMessage("wrong signature")
    return keyed
