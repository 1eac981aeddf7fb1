# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Credentials of the DICOMweb client and their redaction.

HTTP basic (RFC 7617, UTF-8) and bearer-token (RFC 6750) authentication, with the secret read from an environment
variable or a file, never from the command line (other users of the machine see command lines in ``ps`` and shell
histories keep them). Credentials written into a URL (``http://user:pw@host``) are split off the URL so that they
cannot reach a log line, an exception message or the state file through it.

:class:`USSecretRedactor` replaces every known secret (and the ``user:password@`` part of any URL) with ``***`` in
texts and, as a :class:`logging.Filter`, in log records including their tracebacks.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import stat
import traceback
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests

__all__ = [
    "USDicomWebAuth",
    "USSecretRedactor",
    "build_dicomweb_auth",
    "read_secret",
    "split_url_credentials",
    "url_origin",
]

logger = logging.getLogger(__name__)

REDACTED = "***"
_MAX_SECRET_FILE_BYTES = 64 * 1024
# scheme://user[:password]@ in any text (a URL in an exception message, a Location header, ...)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
# RFC 6750 b64token characters; a token with anything else would need quoting no server expects
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def read_secret(*, env: str | None = None, file: str | os.PathLike | None = None, what: str = "password") -> str:
    """Read a secret from an environment variable or a file (exactly one of them).

    A file's surrounding whitespace (the final newline of ``echo secret > file``) is stripped. A file readable by
    other users gets a warning, as ssh does for its keys.

    Args:
        env: name of the environment variable.
        file: path of the file.
        what: what the secret is, for the error messages (``"password"``, ``"token"``).

    Raises:
        ValueError: when neither or both sources are given, the variable is unset or empty, or the file is missing,
            too large or empty. The messages never contain the secret.
    """
    if (env is None) == (file is None):
        raise ValueError(f"give the {what} through exactly one of an environment variable or a file.")
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ValueError(
                f"the {what} environment variable {env!r} is not set: export it in the service's environment "
                f"(e.g. from a systemd EnvironmentFile) or give the {what} in a file instead."
            )
        if not value.strip():
            raise ValueError(f"the {what} environment variable {env!r} is empty: set it to the {what}.")
        return value.strip()
    path = Path(file).expanduser()  # type: ignore[arg-type]
    if not path.is_file():
        raise ValueError(f"the {what} file {str(path)!r} does not exist or is not a file: create it (mode 600).")
    info = path.stat()
    if info.st_size > _MAX_SECRET_FILE_BYTES:
        raise ValueError(
            f"the {what} file {str(path)!r} holds {info.st_size} bytes; a {what} file holds the {what} only."
        )
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("the %s file %r is readable by other users (mode %o): chmod 600 it", what, str(path),
                       stat.S_IMODE(info.st_mode))
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"the {what} file {str(path)!r} is empty: write the {what} into it.")
    return value


def split_url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``user:password@`` off a URL.

    Returns:
        ``(url without credentials, user or None, password or None)``, user and password percent-decoded.
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    clean = parts._replace(netloc=hostport).geturl()
    return clean, unquote(user), (unquote(password) if colon else None)


def url_origin(url: str, base: str | None = None) -> str:
    """``scheme://host[:port]`` of a URL (resolved against ``base`` when relative), without any credentials.

    Meant for hostile values (a ``Location`` header): anything unparsable comes back as a short ``repr``.
    """
    try:
        parts = urlsplit(urljoin(base, url) if base else url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        if not parts.scheme or not host:
            return repr(url[:200])
        return f"{parts.scheme}://{host}{port}"
    except ValueError:  # e.g. a port that is not a number
        return repr(url[:200])


class USDicomWebAuth(requests.auth.AuthBase):
    """``Authorization`` header of every DICOMweb request: basic or bearer (use :meth:`basic`, :meth:`bearer`).

    The header is attached to the request only; redirects are never followed by the client, so it cannot reach
    another origin. ``repr`` and ``str`` never show the secret.

    Args:
        scheme: ``"basic"`` or ``"bearer"``.
        header: the full ``Authorization`` header value.
        secrets: strings to redact wherever text leaves the process (the secret and its encodings).
        username: the basic-auth user (shown in ``repr``), or None.
    """

    def __init__(self, scheme: str, header: str, secrets: Iterable[str], username: str | None = None) -> None:
        if scheme not in ("basic", "bearer"):
            raise ValueError(f"scheme must be 'basic' or 'bearer', got {scheme!r}.")
        self.scheme = scheme
        self.username = username
        self._header = header
        self.secrets = tuple(s for s in secrets if s)

    @classmethod
    def basic(cls, username: str, password: str) -> USDicomWebAuth:
        """HTTP basic authentication (user and password encoded as UTF-8, RFC 7617)."""
        if not username or ":" in username or any(ord(c) < 32 for c in username):
            raise ValueError(
                f"basic-auth user {username!r} must be non-empty, without ':' or control characters (RFC 7617)."
            )
        if not password:
            raise ValueError("the basic-auth password is empty: set it in the environment variable or file.")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        secrets = (password, quote(password, safe=""), token, f"{username}:{password}")
        return cls("basic", f"Basic {token}", secrets, username=username)

    @classmethod
    def bearer(cls, token: str) -> USDicomWebAuth:
        """Bearer-token authentication (``Authorization: Bearer <token>``)."""
        if not _TOKEN_CHARS.fullmatch(token or ""):
            bad = next((i for i, c in enumerate(token or "") if not _TOKEN_CHARS.fullmatch(c) and c != "="), 0)
            raise ValueError(
                f"the bearer token holds a character that is not allowed in a token (at position {bad}, e.g. a space,"
                " a quote or a line break): write the bare token into the variable or file, without 'Bearer '."
            )
        return cls("bearer", f"Bearer {token}", (token,))

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = self._header
        return r

    def __repr__(self) -> str:
        who = f", user={self.username!r}" if self.username else ""
        return f"USDicomWebAuth({self.scheme}{who}, secret={REDACTED})"

    __str__ = __repr__


def build_dicomweb_auth(
    kind: str | None = None,
    *,
    username: str | None = None,
    password_env: str | None = None,
    password_file: str | os.PathLike | None = None,
    token_env: str | None = None,
    token_file: str | os.PathLike | None = None,
) -> USDicomWebAuth | None:
    """Authentication from command-line style options (``--auth``, ``--username``, ``--password-env``, ...).

    ``kind`` may be left out: a user or a password implies ``basic``, a token implies ``bearer``.

    Returns:
        the authentication, or None for ``kind="none"`` / no option at all.

    Raises:
        ValueError: on contradicting or incomplete options (the message names the options to give).
    """
    has_password = password_env is not None or password_file is not None
    has_token = token_env is not None or token_file is not None
    if kind is None:
        kind = "bearer" if has_token else "basic" if (username is not None or has_password) else "none"
    if kind == "none":
        if username is not None or has_password or has_token:
            raise ValueError("--auth none does not take --username, --password-* or --token-* options.")
        return None
    if kind == "basic":
        if has_token:
            raise ValueError("--auth basic takes --username with --password-env or --password-file, not --token-*.")
        if username is None or not has_password:
            raise ValueError(
                "--auth basic needs --username USER and the password through --password-env VAR or --password-file "
                "FILE (passwords are never read from the command line)."
            )
        return USDicomWebAuth.basic(username, read_secret(env=password_env, file=password_file, what="password"))
    if kind == "bearer":
        if username is not None or has_password:
            raise ValueError("--auth bearer takes --token-env or --token-file, not --username or --password-*.")
        if not has_token:
            raise ValueError("--auth bearer needs the token through --token-env VAR or --token-file FILE.")
        return USDicomWebAuth.bearer(read_secret(env=token_env, file=token_file, what="token"))
    raise ValueError(f"--auth must be none, basic or bearer, got {kind!r}.")


class USSecretRedactor(logging.Filter):
    """Replace secrets, and the credentials part of any URL, with ``***``.

    Used on texts (:meth:`redact`) and as a filter of loggers or handlers: the record's message is rendered,
    redacted and frozen, and its traceback is formatted and redacted, so no handler can print the raw values.

    Args:
        secrets: the strings to hide (empty ones are ignored).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Hide more strings (longest first, so a secret holding another is hidden whole)."""
        self.secrets = tuple(sorted({*self.secrets, *(s for s in secrets if s)}, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every secret and URL credential replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _URL_USERINFO.sub(rf"\1{REDACTED}@", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = self.redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True
