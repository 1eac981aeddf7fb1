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

"""monai_ext.services: long-running hospital integrations (DICOMweb polling service).

Modules: ``dicomweb_transport`` (bounded, deadline-watched HTTP without redirects), ``dicomweb_auth`` (credentials
and their redaction), ``dicomweb_multipart`` (incremental multipart/related), ``dicomweb_client`` (QIDO/WADO/STOW),
``dicomweb_state`` (the sqlite state file) and ``dicomweb_service`` (the polling service).
"""

from __future__ import annotations

from .dicomweb_auth import USDicomWebAuth, USSecretRedactor, build_dicomweb_auth, read_secret, split_url_credentials
from .dicomweb_client import (
    DEFAULT_MAX_INSTANCE_BYTES,
    DEFAULT_MAX_JSON_BYTES,
    USDicomWebClient,
    USInvalidUidError,
    check_dicom_uid,
    dicom_json_value,
)
from .dicomweb_multipart import (
    USMultipartSplitter,
    encode_multipart_related,
    parse_multipart_related,
    write_multipart_related,
)
from .dicomweb_service import (
    DEFAULT_MAX_STUDY_BYTES,
    US_OUTPUT_MANUFACTURER,
    USDicomWebService,
    USPollSummary,
    USStudyOutcome,
    serve_dicomweb,
)
from .dicomweb_state import USStudyStateStore
from .dicomweb_transport import (
    USAnswerTooLargeError,
    USDicomWebError,
    USDicomWebTransport,
    USPacsUnavailableError,
    USRetryPolicy,
    parse_retry_after,
)

__all__ = [
    "DEFAULT_MAX_INSTANCE_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "DEFAULT_MAX_STUDY_BYTES",
    "USAnswerTooLargeError",
    "USDicomWebAuth",
    "USDicomWebClient",
    "USDicomWebError",
    "USDicomWebTransport",
    "USInvalidUidError",
    "USMultipartSplitter",
    "USPacsUnavailableError",
    "USRetryPolicy",
    "USSecretRedactor",
    "US_OUTPUT_MANUFACTURER",
    "USDicomWebService",
    "USPollSummary",
    "USStudyOutcome",
    "USStudyStateStore",
    "build_dicomweb_auth",
    "check_dicom_uid",
    "dicom_json_value",
    "encode_multipart_related",
    "parse_multipart_related",
    "parse_retry_after",
    "read_secret",
    "serve_dicomweb",
    "split_url_credentials",
    "write_multipart_related",
]
