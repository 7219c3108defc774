"""`router.connections.secrets` without Redis: credentials encrypted at rest, the key from the settings or from
`data_dir/secrets.key` (created once, mode 0600, shared by every box that reads it), and a clear error for a key
that differs from the one that encrypted a record."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from router.connections.secrets import KEY_FILE, SecretBox, SecretsUnavailable
from router.settings import Settings

CREDENTIALS = {"BasicAuthParameters": {"Username": "alice", "Password": "s3cr3t-password"}}


def test_a_record_round_trips_and_its_stored_form_holds_no_secret_in_clear() -> None:
    box = SecretBox(Fernet.generate_key())
    stored = box.encrypt(CREDENTIALS)
    assert "s3cr3t" not in stored
    assert "alice" not in stored
    assert box.decrypt(stored) == CREDENTIALS
    assert box.decrypt(stored.encode()) == CREDENTIALS
    assert box.encrypt(CREDENTIALS) != stored  # a fresh IV each time: equal records do not look equal at rest


def test_another_key_cannot_read_a_record_and_says_which_settings_to_check() -> None:
    box = SecretBox(Fernet.generate_key())
    stored = box.encrypt(CREDENTIALS)
    with pytest.raises(SecretsUnavailable) as info:
        SecretBox(Fernet.generate_key()).decrypt(stored)
    assert str(info.value) == (
        "stored credentials cannot be decrypted with this key (SWITCHBOARD_SECRETS_KEY or data_dir/secrets.key "
        "differs from the one that encrypted them)"
    )
    tampered = stored[:-8] + ("A" * 8 if not stored.endswith("A" * 8) else "B" * 8)  # the HMAC no longer agrees
    with pytest.raises(SecretsUnavailable):
        box.decrypt(tampered)


def test_the_settings_key_wins_and_no_key_file_is_made(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    box = SecretBox.from_settings(Settings(data_dir=tmp_path, secrets_key=key))
    assert SecretBox(key).decrypt(box.encrypt(CREDENTIALS)) == CREDENTIALS
    assert list(tmp_path.iterdir()) == []


def test_without_a_settings_key_the_first_box_creates_the_key_file_and_the_next_ones_share_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # not there yet: made on first use
    first = SecretBox.from_settings(Settings(data_dir=data_dir))
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]  # the file written aside is gone
    key = path.read_bytes()
    second = SecretBox.from_settings(Settings(data_dir=data_dir))
    assert path.read_bytes() == key  # read, not replaced
    assert second.decrypt(first.encrypt(CREDENTIALS)) == CREDENTIALS
    assert SecretBox(key.strip()).decrypt(first.encrypt(CREDENTIALS)) == CREDENTIALS


def test_a_key_file_linked_by_another_process_first_is_the_one_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes start at once: both see no key file, both write one aside, the first link wins.
    theirs = Fernet.generate_key()
    path = tmp_path / KEY_FILE
    real_link = os.link

    def link_after_the_other_process(src: str, dst: str) -> None:
        path.write_bytes(theirs + b"\n")  # the other process linked its key in the meantime
        real_link(src, dst)

    monkeypatch.setattr("router.connections.secrets.os.link", link_after_the_other_process)
    box = SecretBox.from_settings(Settings(data_dir=tmp_path))
    assert SecretBox(theirs).decrypt(box.encrypt(CREDENTIALS)) == CREDENTIALS
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]
