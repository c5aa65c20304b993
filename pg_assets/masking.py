"""Masking every password this process knows of, in any text about to be shown.

A password can reach a message in more forms than the `ConnectionConfig` that holds it:
libpq reads `PGPASSWORD` and `.pgpass` by itself, a driver may echo what it was given,
and a URI may carry it escaped. `mask_secrets` is the last step before text leaves
pg_assets (the CLI's messages, connection errors), whatever built the text.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

_KNOWN_SECRETS: set[str] = set()


def remember_secrets(*secrets: str | None) -> None:
    """Note passwords seen in any config, so that `mask_secrets` can scrub them from any text."""
    _KNOWN_SECRETS.update(s for s in secrets if s)


def mask_secrets(text: str) -> str:
    """`text` with every password known to this process shown as `***`.

    Known: every password a `ConnectionConfig` held, `PGPASSWORD` and the passwords of
    the `.pgpass` file libpq would read; each raw and URI-escaped. The longest go first,
    so a password that contains another is masked whole.
    """
    secrets = {*_KNOWN_SECRETS, *_libpq_passwords()}
    forms = {form for s in secrets for form in (s, quote(s, safe=""), quote(s)) if len(form) >= 3}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def _libpq_passwords() -> list[str]:
    """Passwords libpq takes by itself: `PGPASSWORD` and the last field of each `.pgpass` line."""
    found = [os.environ.get("PGPASSWORD", "")]
    path = Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
    except OSError:
        lines = []
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            found.append(_pgpass_fields(line)[-1])
    return [p for p in found if p]


def _pgpass_fields(line: str) -> list[str]:
    """`host:port:db:user:password`, where `\\:` and `\\\\` are escapes; the password may contain `:`."""
    fields, current, chars = [], "", iter(line)
    for ch in chars:
        if ch == "\\":
            current += next(chars, "")
        elif ch == ":" and len(fields) < 4:
            fields.append(current)
            current = ""
        else:
            current += ch
    return [*fields, current]
