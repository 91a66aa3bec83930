"""Key files: reading them, and the embedded-mode ``secret.key`` (created once, atomically, owner-only)."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from wardgate.vault.errors import VaultError

KEY_FILE_NAME = "secret.key"
_MAX_BYTES = 64 * 1024
_POSIX = os.name == "posix"
_log = logging.getLogger(__name__)


def read_key_file(path: Path, *, private: bool, source: str) -> str:
    """The text of the key file ``path`` (named ``source`` in errors).

    With ``private`` (the generated ``secret.key``), a file that group or others may access is refused (on POSIX).
    Operator-provided files (``WARDGATE_SECRET_KEY_FILE``: Docker or Kubernetes secrets, often mode 0444 or 0440)
    are not checked: their permissions are the orchestrator's business.
    """
    try:
        with path.open("rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise VaultError(f"{source}: {path} is not a regular file")
            if private and _POSIX and info.st_mode & 0o077:
                raise VaultError(
                    f"{source}: {path} holds the master key but is accessible by group/others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing to use it. "
                    f"Restrict it with `chmod 600 {path}` (and check who could have read it)"
                )
            data = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise VaultError(f"{source}: cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > _MAX_BYTES:
        raise VaultError(f"{source}: {path} is larger than {_MAX_BYTES} bytes; it does not look like a key file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VaultError(f"{source}: {path} is not UTF-8 text") from None


def load_or_create(data_dir: Path, new_text: str) -> str:
    """The text of ``data_dir/secret.key``, first writing ``new_text`` there if the file does not exist.

    Creation never overwrites: the text is written to a private temporary file, synced, then hard-linked into
    place, which fails if another process won the race (its key is then used). Filesystems without hard links
    fall back to an exclusive create of the final name.
    """
    path = data_dir / KEY_FILE_NAME
    if not os.path.lexists(path):
        try:
            created = _create(path, new_text)
        except OSError as exc:
            raise VaultError(
                f"cannot create the master key file {path}: {exc.strerror or type(exc).__name__}; "
                "make the data directory writable or set WARDGATE_SECRET_KEY"
            ) from None
        if created:
            _log.warning(
                "generated a new vault master key in %s: back it up, stored credentials cannot be decrypted without it",
                path,
            )
    return read_key_file(path, private=True, source="master key file")


def _create(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text`` (mode 0600); False when it appeared meanwhile."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    _write_private(tmp, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:
        try:
            _write_private(path, text)
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(path.parent)
    return True


def _write_private(path: Path, text: str) -> None:
    """Exclusively create ``path`` with mode 0600 and write ``text`` durably; remove it if writing fails."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            if _POSIX:
                os.fchmod(fh.fileno(), 0o600)  # the umask can only remove bits; be explicit anyway
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _sync_dir(directory: Path) -> None:
    """Make the new directory entry durable (POSIX); a lost key file would make every credential unreadable."""
    if not _POSIX:
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
