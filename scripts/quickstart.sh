#!/usr/bin/env bash
# The quick start: installs what is missing, builds, and runs dptls's main job
# on its embedded defaults. For now that is the cipher-throughput benchmark
# (AES-128/256-GCM and ChaCha20-Poly1305, IPsec-MB against OpenSSL EVP).
# Extra arguments go to `dptls bench cipher`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/apps/dptls bench cipher "$@"
