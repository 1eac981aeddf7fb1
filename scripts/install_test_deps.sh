#!/usr/bin/env bash
# Installs the system packages some tests use, where this machine allows it (Debian/Ubuntu apt-get, as root or with
# password-less sudo); elsewhere it says what is missing and the tests that need it are skipped with that reason:
# - dicom3tools: dciodvfy validates the DICOM files the toolkit writes (tests/io, tests/inference);
# - orthanc + orthanc-dicomweb: a real PACS on loopback for the serve-dicomweb round trip
#   (tests/services/test_dicomweb_orthanc.py starts its own Orthanc; the system service is not needed).
# Python packages (the [test,deploy] extras) are installed by scripts/setup_env.sh.
# Usage: bash scripts/install_test_deps.sh        (does nothing when everything is there)
set -euo pipefail
missing=()
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v Orthanc >/dev/null 2>&1 || [[ -x /usr/sbin/Orthanc ]] || missing+=(orthanc)
compgen -G "/usr/share/orthanc/plugins/libOrthancDicomWeb.so" >/dev/null \
  || compgen -G "/usr/lib/orthanc/libOrthancDicomWeb.so*" >/dev/null || missing+=(orthanc-dicomweb)
(( ${#missing[@]} )) || exit 0
if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "note: ${missing[*]} missing and no root rights to install them; the tests that need them will be skipped" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${missing[*]} missing and no apt-get here; the tests that need them will be skipped" >&2
  exit 0
fi
echo "installing ${missing[*]} (apt-get)" >&2
if ! ("${as_root[@]}" apt-get update -qq \
      && "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         "${missing[@]}") >/dev/null 2>&1; then
  echo "note: could not install ${missing[*]}; the tests that need them will be skipped" >&2
  exit 0
fi
if [[ " ${missing[*]} " == *" orthanc "* ]]; then
  # the package starts a system PACS on :8042 (systemd or its init script); the test starts its own Orthanc
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    "${as_root[@]}" systemctl disable --now orthanc >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/orthanc ]]; then
    "${as_root[@]}" /etc/init.d/orthanc stop >/dev/null 2>&1 || true
  fi
fi
