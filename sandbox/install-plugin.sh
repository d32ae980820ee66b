#!/usr/bin/env bash
# Install this working tree's premium-hotline into the sandbox chroot, the way a PBX
# administrator without internet access would: wheels built on another machine (here, the
# host), `pip install --no-index` in the PBX's Python, then `premium-hotline install-agi`,
# which writes the three AGI scripts into Asterisk's agi-bin.
#
# Usage: sandbox/install-plugin.sh        (after sandbox/build.sh; as root)
# The dependency wheels (pyst2, redis, structlog, hiredis...) are cached in /var/cache/premium-hotline/wheels.
# hiredis is a C extension: its wheel is the one for the chroot's Python (and machine), not the host's.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${PH_SANDBOX_DIR:-/var/cache/premium-hotline/sandbox}"
CACHE=/var/cache/premium-hotline/wheels
PY=${PYTHON:-.venv/bin/python}
die() { echo "install-plugin.sh: error: $*" >&2; exit 1; }

[ -x "$PY" ] || die "no $PY: run scripts/setup first"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$CACHE"
if ! ls "$CACHE"/pyst2-*.whl "$CACHE"/redis-*.whl "$CACHE"/structlog-*.whl >/dev/null 2>&1; then
  "$PY" -m pip wheel -q -w "$CACHE" pyst2 redis structlog >"$work/pip.log" 2>&1 \
    || die "cannot build the dependency wheels (no network to PyPI?): $(tail -1 "$work/pip.log")"
fi
pyver=$(env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin chroot "$DIR" python3 -c 'import sys; print("%d%d" % sys.version_info[:2])') \
  || die "no python3 in the sandbox at $DIR"
hiredis=("$CACHE"/hiredis-*-cp"$pyver"-*"$(uname -m)"*.whl)
if [ ! -e "${hiredis[0]}" ]; then
  "$PY" -m pip download -q --only-binary=:all: --no-deps -d "$CACHE" --implementation cp \
    --python-version "${pyver:0:1}.${pyver:1}" --abi "cp$pyver" --platform "manylinux_2_17_$(uname -m)" \
    --platform "manylinux2014_$(uname -m)" --platform "manylinux_2_28_$(uname -m)" "hiredis>=2.0" \
    >"$work/pip.log" 2>&1 || die "cannot fetch a hiredis wheel for Python $pyver: $(tail -1 "$work/pip.log")"
  hiredis=("$CACHE"/hiredis-*-cp"$pyver"-*"$(uname -m)"*.whl)
fi
rm -rf build  # setuptools keeps build/lib between runs: a deleted module would ship again
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$work" . >"$work/pip.log" 2>&1 \
  || die "cannot build the premium-hotline wheel: $(tail -1 "$work/pip.log")"
for wheel in "$CACHE"/*.whl; do
  case "$(basename "$wheel")" in hiredis-*) ;; *) cp "$wheel" "$work"/ ;; esac
done
cp "${hiredis[0]}" "$work"/
./sandbox/install-package.sh "$work" --import premium_hotline.plain,premium_hotline.redis.sync,hiredis,asterisk.agi >/dev/null
env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin chroot "$DIR" premium-hotline install-agi >/dev/null \
  || die "premium-hotline install-agi failed inside the chroot"
echo "[sandbox] premium-hotline $(env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin chroot "$DIR" premium-hotline --version | awk '{print $2}') installed in $DIR, AGI scripts in /usr/share/asterisk/agi-bin"
