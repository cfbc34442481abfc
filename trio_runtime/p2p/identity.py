"""The node's libp2p identity: an Ed25519 key kept in the data directory, so the peer id
survives restarts."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from libp2p import load_identity, save_identity
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair

logger = logging.getLogger(__name__)

KEY_FILE = "p2p_identity.key"


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def load_or_create_identity(data_dir: Path) -> KeyPair:
    """The node's key pair, created (mode 0600) on first use; raises ValueError if corrupt."""
    path = key_path(data_dir)
    if path.exists():
        return load_identity(str(path))
    key_pair = create_new_key_pair()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    save_identity(key_pair, str(temporary))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)  # atomic: a crash never leaves half a key
    logger.info("created the node's libp2p identity in %s", path)
    return key_pair
