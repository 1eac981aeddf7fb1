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
"""Tests of monai_ext.services.dicomweb_auth: secrets from environment or files, basic / bearer headers, URL
credentials, and redaction of texts and log records (tracebacks included)."""

from __future__ import annotations

import base64
import logging

import pytest
import requests

from monai_ext.services import (
    USDicomWebAuth,
    USDicomWebClient,
    USSecretRedactor,
    build_dicomweb_auth,
    read_secret,
    split_url_credentials,
)
from monai_ext.services.dicomweb_auth import url_origin

SECRET = "pa:ss w@rd/é"


def _header(auth):
    return auth(requests.Request("GET", "http://127.0.0.1/").prepare()).headers["Authorization"]


def test_read_secret_from_env_and_file(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PACS_PW", SECRET)
    assert read_secret(env="PACS_PW") == SECRET
    f = tmp_path / "pw"
    f.write_text(SECRET + "\n", encoding="utf-8")
    f.chmod(0o600)
    with caplog.at_level("WARNING"):
        assert read_secret(file=f) == SECRET
    assert caplog.text == ""
    f.chmod(0o644)
    with caplog.at_level("WARNING"):
        read_secret(file=f)
    assert "readable by other users (mode 644): chmod 600" in caplog.text
    monkeypatch.setenv("EMPTY", " ")
    cases = [
        (dict(env="NOT_SET_4711"), "'NOT_SET_4711' is not set"),
        (dict(env="EMPTY"), "'EMPTY' is empty"),
        (dict(file=tmp_path / "none"), "does not exist"),
        (dict(), "exactly one"),
        (dict(env="PACS_PW", file=f), "exactly one"),
    ]
    (tmp_path / "blank").write_text("\n")
    cases.append((dict(file=tmp_path / "blank"), "is empty"))
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match) as err:
            read_secret(**kwargs)
        assert SECRET not in str(err.value)


def test_basic_and_bearer_headers():
    basic = USDicomWebAuth.basic("radiology", SECRET)
    token = base64.b64encode(f"radiology:{SECRET}".encode("utf-8")).decode()
    assert _header(basic) == f"Basic {token}"
    assert SECRET in basic.secrets and token in basic.secrets
    assert SECRET not in repr(basic) and "radiology" in repr(basic) and token not in str(basic)
    bearer = USDicomWebAuth.bearer("abc.DEF-123_~+/==")
    assert _header(bearer) == "Bearer abc.DEF-123_~+/=="
    for bad in ("Bearer abc", "abc\r\nX-Evil: 1", '"abc"', "", "tök"):
        with pytest.raises(ValueError, match="not allowed in a token") as err:
            USDicomWebAuth.bearer(bad)
        assert "abc" not in str(err.value) or bad == ""
    for user in ("", "a:b", "a\nb"):
        with pytest.raises(ValueError, match="RFC 7617"):
            USDicomWebAuth.basic(user, "pw")


def test_build_auth_from_options(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", SECRET)
    monkeypatch.setenv("TOK", "t0k")
    assert build_dicomweb_auth() is None and build_dicomweb_auth("none") is None
    assert build_dicomweb_auth(username="u", password_env="PW").scheme == "basic"
    assert build_dicomweb_auth(token_env="TOK").scheme == "bearer"
    for kwargs, match in (
        (dict(kind="none", username="u"), "--auth none does not take"),
        (dict(kind="basic", username="u"), "--auth basic needs --username USER and the password"),
        (dict(kind="basic", password_env="PW"), "needs --username"),
        (dict(kind="basic", username="u", password_env="PW", token_env="TOK"), "not --token"),
        (dict(kind="bearer"), "--auth bearer needs the token"),
        (dict(kind="bearer", token_env="TOK", username="u"), "not --username"),
        (dict(kind="kerberos"), "none, basic or bearer"),
    ):
        with pytest.raises(ValueError, match=match):
            build_dicomweb_auth(**kwargs)


def test_url_credentials_are_split_off():
    assert split_url_credentials("https://pacs/dicom-web") == ("https://pacs/dicom-web", None, None)
    assert split_url_credentials("http://u%40x:p%3Aw@10.0.0.1:8042/dw") == ("http://10.0.0.1:8042/dw", "u@x", "p:w")
    assert split_url_credentials("http://u@h/x") == ("http://h/x", "u", None)
    client = USDicomWebClient("http://radiology:hunter2@127.0.0.1:1/dicom-web")
    assert client.url == "http://127.0.0.1:1/dicom-web" and client.transport.auth.username == "radiology"
    assert client.redact("GET http://radiology:hunter2@x/ failed; hunter2") == "GET http://***@x/ failed; ***"
    with pytest.raises(ValueError, match="holds credentials and an authentication") as err:
        USDicomWebClient("http://radiology:hunter2@127.0.0.1:1/dw", auth=USDicomWebAuth.bearer("t"))
    assert "hunter2" not in str(err.value)
    assert url_origin("http://a:b@Evil.example:8080/x?y") == "http://evil.example:8080"
    assert url_origin("/elsewhere", base="https://pacs:443/dw/studies") == "https://pacs:443"
    assert url_origin("http://h:notaport/") == "'http://h:notaport/'"


def test_redactor_hides_secrets_in_messages_and_tracebacks(caplog):
    redactor = USSecretRedactor([SECRET])
    log = logging.getLogger("monai_ext.test_redactor")
    log.addFilter(redactor)
    try:
        with caplog.at_level("INFO", logger="monai_ext.test_redactor"):
            log.info("connecting to %s with %s", "http://user:other@pacs/x", SECRET)
            try:
                raise RuntimeError(f"server echoed {SECRET}")
            except RuntimeError:
                log.exception("request failed")
    finally:
        log.removeFilter(redactor)
    assert SECRET not in caplog.text and "other" not in caplog.text
    assert "connecting to http://***@pacs/x with ***" in caplog.text
    assert "RuntimeError: server echoed ***" in caplog.text and "Traceback" in caplog.text
