#!/usr/bin/env bash
# Gather the package and its dependencies as wheels for every supported Python
# (3.8-3.13, CPython, manylinux) into a folder, with a SHA256SUMS file, for an
# air-gapped install:  pip install --no-index --find-links wheelhouse minipaas-certs
# (or ./minipaas-certs, a checkout: its build requirements are there too)
#
#   scripts/wheelhouse.sh [DIR]      (default: wheelhouse)
#   WHEELHOUSE_ARCHS="x86_64 aarch64" scripts/wheelhouse.sh   (default: this machine's)
set -euo pipefail
dest=${1:-wheelhouse}
python=${PYTHON:-python3}
archs=${WHEELHOUSE_ARCHS:-$(uname -m)}
rm -rf "$dest"
mkdir -p "$dest"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$dest" .
package=$(ls "$dest"/minipaas_certs-*.whl)
for version in 3.8 3.9 3.10 3.11 3.12 3.13; do
  for arch in $archs; do
    # MarkupSafe (Jinja2's dependency) has a wheel per Python and platform;
    # click and jinja2 are pure Python, and pip picks the versions each Python supports.
    "$python" -m pip download --quiet --only-binary=:all: --dest "$dest" \
      --implementation cp --python-version "$version" \
      --platform "manylinux2014_$arch" --platform "manylinux_2_17_$arch" \
      "$package"
  done
  # setuptools and wheel build the package from a checkout (the README's
  # `pip install ./minipaas-certs`), for an install from a clone with --no-index.
  "$python" -m pip download --quiet --only-binary=:all: --dest "$dest" \
    --implementation cp --python-version "$version" "setuptools>=61" wheel
done
(cd "$dest" && sha256sum -- *.whl > SHA256SUMS)
echo "$dest: $(ls "$dest"/*.whl | wc -l) wheels, SHA256SUMS" >&2
