"""Where the `files` kind finds and opens files: local paths and globs, or fsspec URLs.

A `path` with a scheme (`s3://`, `gs://`, `az://`, `https://`, `sftp://`, `file://`)
goes through fsspec with the resource's `storage_options` passed unchanged; without
one it is a local path relative to the spec file's folder. Compressed files (`.gz`,
`.bz2`, `.zst`) are opened through pyarrow's codecs, so every reader sees plain bytes.

Listing fails before anything is read or written, with the URL and never a secret:
messages from the storage client are scrubbed of every `storage_options` value.
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from pg_assets.errors import ConfigError

COMPRESSIONS: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}


@dataclass(frozen=True)
class FileRef:
    """One file to read: what the user sees (`url`), how to open it, and what identifies its content."""

    url: str
    path: str
    size: int
    version: Any  # remote files: the ETag, else the modification time; local: mtime_ns
    fs: Any = None  # an fsspec filesystem; None for local files
    state_key: str = ""

    @property
    def compression(self) -> str | None:
        return COMPRESSIONS.get(Path(self.path).suffix.lower())

    def __str__(self) -> str:
        return self.url


def is_url(path: str) -> bool:
    return "://" in path


def strip_compression(name: str) -> str:
    """`orders.csv.gz` -> `orders.csv`: the format is read from the name under the compression suffix."""
    suffix = Path(name).suffix.lower()
    return name[: -len(suffix)] if suffix in COMPRESSIONS else name


def list_files(pattern: str, storage_options: Mapping[str, Any] | None, base_dir: Path,
               resource: str) -> list[FileRef]:
    """Every file `pattern` names, sorted; a ConfigError naming the pattern when there is none."""
    found = _remote(pattern, dict(storage_options or {}), resource) if is_url(pattern) else _local(pattern, base_dir)
    if not found:
        raise ConfigError(f"resource `{resource}`: no file matches `{pattern}`")
    return found


def _local(pattern: str, base_dir: Path) -> list[FileRef]:
    full = str((base_dir / Path(pattern).expanduser()).resolve())
    refs = []
    for name in sorted(glob.glob(full, recursive=True)):
        path = Path(name)
        if path.is_file():
            stat = path.stat()
            refs.append(FileRef(str(path), str(path), stat.st_size, stat.st_mtime_ns,
                                state_key=_relative(path, base_dir)))
    return refs


def _relative(path: Path, base_dir: Path) -> str:
    try:
        return path.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _remote(url: str, options: dict[str, Any], resource: str) -> list[FileRef]:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
        fs.invalidate_cache()  # fsspec reuses filesystems and their listings: each load lists afresh
        protocol = url.split("://", 1)[0]
        if glob.has_magic(path):
            infos = fs.glob(path, detail=True)
            found = sorted(infos.items())
        else:
            found = [(path, fs.info(path))]
    except ImportError as exc:
        raise ConfigError(f"resource `{resource}`: reading `{url}` needs an extra package: {exc}. Install "
                          "`pg-assets[s3]`, `pg-assets[gcs]` or `pg-assets[azure]`.") from None
    except FileNotFoundError:
        return []
    except Exception as exc:  # every storage client raises its own errors: say which URL, hide secrets
        raise ConfigError(f"resource `{resource}`: cannot reach `{url}`: {type(exc).__name__}: "
                          f"{_scrub(str(exc), options)}") from None
    return [FileRef(_url(protocol, p), p, int(info.get("size") or 0), _version(info), fs, _url(protocol, p))
            for p, info in found if info.get("type", "file") == "file"]


def _url(protocol: str, path: str) -> str:
    return path if "://" in path else f"{protocol}://{path}"


def _version(info: Mapping[str, Any]) -> Any:
    for key in ("ETag", "etag", "LastModified", "last_modified", "mtime", "updated"):
        if info.get(key) is not None:
            return str(info[key])
    return None


# option names whose values are secrets (`key`, `secret`, `token`, `account_key`, `sas_token`, ...)
_SECRET_NAME = re.compile(r"key|secret|token|pass|credential|sas|signature|connection", re.IGNORECASE)


def _scrub(message: str, options: Mapping[str, Any]) -> str:
    """`message` without the value of any secret-named option, at any depth."""
    for value in _secrets(options):
        if len(value) >= 3:
            message = message.replace(value, "***")
    return message.splitlines()[0][:300] if message else ""


def _secrets(value: Any, secret: bool = False) -> list[str]:
    if isinstance(value, str):
        return [value] if secret else []
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _secrets(v, secret or bool(_SECRET_NAME.search(str(k))))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _secrets(v, secret)]
    return []


def open_binary(ref: FileRef) -> pa.NativeFile:
    """The file's bytes, decompressed when its name says so."""
    if ref.fs is None:
        raw: pa.NativeFile = pa.OSFile(ref.path, "rb")
    else:
        raw = pa.PythonFile(ref.fs.open(ref.path, "rb"), mode="r")
    return pa.CompressedInputStream(raw, ref.compression) if ref.compression else raw


def open_seekable(ref: FileRef) -> Any:
    """A seekable handle for formats that read from the end (Parquet)."""
    return ref.path if ref.fs is None else ref.fs.open(ref.path, "rb")


def fingerprint(ref: FileRef, known: list[Any] | None) -> list[Any]:
    """`[size, version, sha256]`: local files hash their content (reused while size and mtime hold),
    remote ones rely on the ETag or modification time the store reports."""
    if ref.fs is not None:
        return [ref.size, ref.version, None]
    if known and known[0] == ref.size and known[1] == ref.version:
        return list(known)
    digest = hashlib.sha256()
    with open(ref.path, "rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    return [ref.size, ref.version, digest.hexdigest()]


def same_content(now: list[Any], known: list[Any] | None) -> bool:
    """Same size, and the same hash (local: a touched file is still the same) or the same version."""
    if not known or now[0] != known[0]:
        return False
    return now[2] == known[2] if now[2] is not None else now[1] == known[1]
