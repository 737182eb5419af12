#!/usr/bin/env bash
# Unpack Debian bullseye's OpenSSL 1.1.1 into a folder, without installing it, and
# write a wrapper that runs it: `scripts/openssl111.sh [DIR]` prints the wrapper path.
# Uses the machine's own Debian source with its suite changed to bullseye, and a
# private apt lists folder, so the system's apt state is left untouched.
set -euo pipefail
dest=$(realpath -m "${1:-.cache/openssl-1.1.1}")
wrapper="$dest/openssl"
if [ -x "$wrapper" ] && "$wrapper" version >/dev/null 2>&1; then
  echo "$wrapper"
  exit 0
fi
work="$dest/apt"
mkdir -p "$work/sources" "$work/lists/partial" "$work/archives" "$dest/root"
source_file=/etc/apt/sources.list.d/debian.sources
if [ -f "$source_file" ]; then
  # The first stanza is the main archive; keep its URIs and key, change the suite.
  awk 'BEGIN{RS=""; ORS="\n\n"} NR==1{print; exit}' "$source_file" \
    | sed -E 's/^Suites:.*/Suites: bullseye/' >"$work/sources/bullseye.sources"
else
  uri=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list)
  printf 'deb %s bullseye main\n' "$uri" >"$work/sources/bullseye.list"
fi
apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
          -o Debug::NoLocking=1)
apt-get "${apt_opts[@]}" update -qq >&2
(cd "$work/archives" && apt-get "${apt_opts[@]}" download openssl/bullseye libssl1.1/bullseye >&2)
for deb in "$work"/archives/*.deb; do
  dpkg -x "$deb" "$dest/root"
done
libdir=$(dirname "$(find "$dest/root" -name 'libssl.so.1.1' | head -n 1)")
cat >"$wrapper" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$libdir" exec "$dest/root/usr/bin/openssl" "\$@"
WRAP
chmod 0755 "$wrapper"
"$wrapper" version >&2
echo "$wrapper"
