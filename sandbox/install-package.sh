#!/usr/bin/env bash
# Install wheels built on the host into the sandbox chroot's system Python.
#
# Usage: sandbox/install-package.sh WHEELDIR [--import MOD[,MOD...]]
#
# This is what a PBX admin without internet access would do: build wheels elsewhere
# (python3 -m pip wheel -w WHEELDIR /work/main), copy them over, and
#   pip install --no-index --break-system-packages WHEELDIR/*.whl
# into the system python3, the one that runs AGI scripts from
# /usr/share/asterisk/agi-bin (their "#!/usr/bin/python3" line).  pip inside the chroot
# cannot reach PyPI here anyway (this network's TLS chain is rejected by sid's Python).
#
# WHEELDIR must hold the wheels AND every dependency not yet installed in the chroot
# (pip wheel -w puts them all there).  Wheels already installed at the same version are
# reinstalled, so a rebuilt project wheel always replaces the previous one.
#
# --import asterisk.agi,redis,structlog   then checks that these modules import in the chroot.
#
# Environment: PH_SANDBOX_DIR (default /var/cache/premium-hotline/sandbox).
# Failures print one line "install-package.sh: error: ..." on stderr and exit non-zero.
set -euo pipefail

PROG="install-package.sh"
DIR="${PH_SANDBOX_DIR:-/var/cache/premium-hotline/sandbox}"
DIR="${DIR%/}"
CHROOT_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
            PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1)

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "[sandbox] $*"; }
in_chroot() { "${CHROOT_ENV[@]}" chroot "$DIR" "$@"; }

WHEELDIR=""; IMPORTS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --import) [ $# -ge 2 ] || die "--import needs a comma-separated list of modules"
                  IMPORTS="$2"; shift 2 ;;
        --import=*) IMPORTS="${1#--import=}"; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        -*) die "unknown option '$1' (try --help)" ;;
        *) [ -z "$WHEELDIR" ] || die "only one WHEELDIR expected, got '$WHEELDIR' and '$1'"
           WHEELDIR="$1"; shift ;;
    esac
done

[ -n "$WHEELDIR" ] || die "usage: $PROG WHEELDIR [--import MOD,...]"
[ "$(id -u)" = 0 ] || die "must run as root (chroot needs it)"
[ -f "$DIR/.premium-hotline-sandbox" ] || die "no complete sandbox at $DIR: run sandbox/build.sh first"
[ -d "$WHEELDIR" ] || die "wheel directory '$WHEELDIR' does not exist"
shopt -s nullglob
wheels=("$WHEELDIR"/*.whl)
[ ${#wheels[@]} -gt 0 ] || die "no *.whl in '$WHEELDIR' (build them with: python3 -m pip wheel -w $WHEELDIR PATH)"

# Copy into the chroot (pip there cannot see host paths); removed again on exit.
STAGE="/var/tmp/ph-wheels.$$"
mkdir -p "$DIR$STAGE"
trap 'rm -rf "$DIR$STAGE"' EXIT
cp "${wheels[@]}" "$DIR$STAGE/"
staged=()
for w in "${wheels[@]}"; do staged+=("$STAGE/$(basename "$w")"); done

PIP=(python3 -m pip install --no-index --break-system-packages --root-user-action=ignore
     --find-links "$STAGE")
LOG="$DIR$STAGE.log"
# 1) install with dependency resolution: missing dependencies come from WHEELDIR.
if ! in_chroot "${PIP[@]}" "${staged[@]}" >"$LOG" 2>&1; then
    reason=$(grep -E '^ERROR' "$LOG" | head -n 1)
    die "pip install in the chroot failed: ${reason:-$(tail -n 1 "$LOG")} (is every dependency's wheel in $WHEELDIR?)"
fi
# 2) force the given wheels in, even at an already-installed version (a rebuilt package).
if ! in_chroot "${PIP[@]}" --no-deps --force-reinstall "${staged[@]}" >>"$LOG" 2>&1; then
    reason=$(grep -E '^ERROR' "$LOG" | head -n 1)
    die "pip install --force-reinstall in the chroot failed: ${reason:-$(tail -n 1 "$LOG")}"
fi
rm -f "$LOG"
for w in "${wheels[@]}"; do
    b=$(basename "$w" .whl); say "installed ${b%%-py*}"
done

if [ -n "$IMPORTS" ]; then
    code="import importlib
for m in '$IMPORTS'.split(','):
    m = m.strip()
    if m:
        importlib.import_module(m)
print('imports ok: $IMPORTS')"
    out=$(in_chroot python3 -c "$code" 2>&1) \
        || die "import check in the chroot failed: $(printf '%s\n' "$out" | tail -n 1)"
    say "$out"
fi
