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
"""Tests of monai_ext.services.dicomweb_multipart: the incremental splitter fed in every chunking, its limits,
and multipart bodies written from files."""

from __future__ import annotations

import io

import pytest

from monai_ext.services import (
    USDicomWebError,
    USMultipartSplitter,
    encode_multipart_related,
    parse_multipart_related,
    write_multipart_related,
)

CONTENTS = [b"\x00\x01\r\n--not-the-boundary\r\n\r\n\xff" * 3, b"", b"DICM" * 50, b"\r\n"]


class _Parts:
    def __init__(self):
        self.items = []

    def open(self, index, headers):
        buf = io.BytesIO()
        buf.close = lambda: None  # keep readable
        self.items.append((headers, buf))
        return buf


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 41, 1 << 20])
def test_splitter_gives_the_same_parts_for_any_chunking(chunk):
    body, ctype = encode_multipart_related(CONTENTS)
    parts = _Parts()
    splitter = USMultipartSplitter(ctype, parts.open)
    for i in range(0, len(body), chunk):
        splitter.write(body[i : i + chunk])
    headers = splitter.close()
    assert [b.getvalue() for _, b in parts.items] == CONTENTS and splitter.sizes == [len(c) for c in CONTENTS]
    assert headers == [{"content-type": "application/dicom"}] * 4 and splitter.done


def test_splitter_limits():
    body, ctype = encode_multipart_related([b"a", b"b", b"c"])
    with pytest.raises(USDicomWebError, match="more than 2 part"):
        USMultipartSplitter(ctype, _Parts().open, max_parts=2).write(body)
    with pytest.raises(USDicomWebError, match="no end of headers within 64 bytes"):
        USMultipartSplitter("multipart/related; boundary=b", _Parts().open, max_header_bytes=64).write(
            b"--b\r\nX-Long: " + b"x" * 200
        )
    with pytest.raises(USDicomWebError, match="no boundary in its first 100 bytes"):
        USMultipartSplitter("multipart/related; boundary=b", _Parts().open, max_preamble_bytes=100).write(
            b"z" * 300
        )
    with pytest.raises(USDicomWebError, match="not followed by a line break"):
        USMultipartSplitter("multipart/related; boundary=b", _Parts().open).write(b"--b" + b" " * 2000)
    with pytest.raises(USDicomWebError, match="boundary .* is not 1 to 70"):
        USMultipartSplitter("multipart/related; boundary=" + "q" * 71, _Parts().open)
    with pytest.raises(USDicomWebError, match="expected a multipart answer"):
        USMultipartSplitter("multipart/related", _Parts().open)
    with pytest.raises(USDicomWebError, match="truncated after 2 complete part"):
        parse_multipart_related(body[:-20], ctype)


def test_write_multipart_related_from_files(tmp_path):
    files = []
    for i, content in enumerate(CONTENTS):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(content)
    ctype = write_multipart_related(files, tmp_path / "body")
    parts = parse_multipart_related((tmp_path / "body").read_bytes(), ctype)
    assert [c for _, c in parts] == CONTENTS
    assert ctype.startswith('multipart/related; type="application/dicom"; boundary=')
