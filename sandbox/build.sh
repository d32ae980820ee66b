#!/usr/bin/env bash
# Build (once) and cache a Debian sid chroot holding a real Asterisk 22.
#
# Why a chroot: Debian 12 has no asterisk package, sid has 22.x.  The chroot
# lives outside the work tree (default /var/cache/premium-hotline/sandbox) so
# it is built once per machine and reused by every test run and the demo.
#
# Usage: sandbox/build.sh [--rebuild] [--check]
#   --rebuild  throw away the cached chroot and build it again
#   --check    only say whether the cached chroot is complete (exit 0) or not (exit 1)
#
# Environment:
#   PH_SANDBOX_DIR    where the chroot lives (default /var/cache/premium-hotline/sandbox)
#   PH_DEBIAN_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   PH_SANDBOX_EXTRA_PACKAGES  more Debian packages for the chroot (space-separated)
#
# A stamp file (DIR/.premium-hotline-sandbox) is written as the very last step:
# a chroot without it (a build that was interrupted or failed) is wiped and
# rebuilt on the next run.  The stamp records RECIPE below and the package list:
# bump RECIPE when the setup changes so that cached chroots get rebuilt.
#
# Every failure prints one line "build.sh: error: ..." on stderr and exits
# non-zero; the full output of the failing step is kept in DIR.build.log.
set -euo pipefail

RECIPE="4"   # bump when anything below changes what ends up in the chroot
SUITE="sid"
PACKAGES=(asterisk asterisk-core-sounds-fr-gsm python3 python3-pip)
# Extra chroot packages for one machine (space-separated), e.g. "sox redis-tools".
read -r -a EXTRA <<<"${PH_SANDBOX_EXTRA_PACKAGES:-}"
PACKAGES+=("${EXTRA[@]}")
MIRROR="${PH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DIR="${PH_SANDBOX_DIR:-/var/cache/premium-hotline/sandbox}"
DIR="${DIR%/}"
STAMP="$DIR/.premium-hotline-sandbox"
LOG="$DIR.build.log"
LOCK="$DIR.lock"
PROG="build.sh"

# The chroot must not inherit the host's pip/proxy settings (PIP_FIND_LINKS,
# PIP_CERT ... point at host paths), so every command inside runs in a clean env.
CHROOT_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
            DEBIAN_FRONTEND=noninteractive)

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "[sandbox] $*"; }

# Last meaningful line of the step log, to put the reason on the one error line.
last_error_line() {
    local line
    line=$(grep -E '^(E: |W: Failed|dpkg: error|debootstrap: |E:|Err:)|[Ee]rror' "$LOG" 2>/dev/null \
           | grep -v '^W: .*Release file .* is expired' | tail -n 1 || true)
    [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$LOG" 2>/dev/null | tail -n 1 || true)
    printf '%s' "$line" | tr -s '\t ' ' ' | cut -c1-300
}

# run_step "what is being done" cmd... : output goes to the log; on failure one line.
run_step() {
    local what="$1"; shift
    local t0=$SECONDS
    echo "### $what: $*" >>"$LOG"
    if ! "$@" >>"$LOG" 2>&1; then
        die "$what failed: $(last_error_line) (full log: $LOG)"
    fi
    say "$what: done in $((SECONDS - t0)) s"
}

in_chroot() { "${CHROOT_ENV[@]}" chroot "$DIR" "$@"; }

# Processes whose root directory is the chroot (a running sandbox Asterisk...).
procs_in_chroot() {
    local p root
    for p in /proc/[0-9]*; do
        root=$(readlink "$p/root" 2>/dev/null) || continue
        [ "$root" = "$DIR" ] && echo "${p#/proc/}"
    done
    return 0
}

# "complete" = stamp present, same recipe, and asterisk really answers.
is_complete() {
    [ -f "$STAMP" ] || return 1
    grep -qx "recipe=$RECIPE" "$STAMP" || return 1
    grep -qx "packages=${PACKAGES[*]}" "$STAMP" || return 1
    [[ "$(in_chroot asterisk -V 2>/dev/null)" == "Asterisk 22"* ]] || return 1
    in_chroot python3 -m pip --version >/dev/null 2>&1 || return 1
}

wipe() {
    local pids
    pids=$(procs_in_chroot | tr '\n' ' ')
    [ -z "$pids" ] || die "cannot rebuild $DIR: processes still run inside it (pids: $pids); stop the sandbox Asterisk first"
    # An interrupted debootstrap can leave its /proc and /sys mounts behind: no process
    # runs in the chroot (checked above), so unmount them, deepest first.  Never rm -rf
    # through a mount point: a bind-mounted /dev or /proc would be emptied.
    local m
    for m in $(awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r); do
        umount "$m" 2>/dev/null || die "cannot rebuild $DIR: $m is mounted and will not unmount; unmount it by hand"
    done
    rm -rf --one-file-system "$DIR"
}

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

REBUILD=0; CHECK=0
for arg in "$@"; do
    case "$arg" in
        --rebuild) REBUILD=1 ;;
        --check) CHECK=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done

[ "$(id -u)" = 0 ] || die "must run as root: debootstrap and chroot need root (try: sudo $0)"

if [ "$CHECK" = 1 ]; then
    if is_complete; then say "complete: $DIR ($(in_chroot asterisk -V))"; exit 0; fi
    say "missing or incomplete: $DIR"; exit 1
fi

mkdir -p "$(dirname "$DIR")" || die "cannot create $(dirname "$DIR")"
command -v flock >/dev/null || die "flock (util-linux) not found on the host"
# Two test runs starting at once must not build the same chroot twice.
exec 9>"$LOCK"
if ! flock -n 9; then
    say "another build holds $LOCK; waiting for it"
    flock -w 1800 9 || die "timed out after 30 min waiting for the lock $LOCK held by another build"
fi

if [ "$REBUILD" = 0 ] && is_complete; then
    say "cached chroot is complete: $DIR ($(in_chroot asterisk -V)); use --rebuild to rebuild"
    exit 0
fi

T_START=$SECONDS
: >"$LOG"

# --- host prerequisites -------------------------------------------------------
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on the host"
    if ! apt-get install -y debootstrap >>"$LOG" 2>&1; then
        # The host's package lists may be missing or stale: refresh once (other
        # configured repositories may fail to update; that does not matter here).
        apt-get update >>"$LOG" 2>&1 || true
        apt-get install -y debootstrap >>"$LOG" 2>&1 \
            || die "cannot install debootstrap on the host with apt-get: $(last_error_line) (full log: $LOG)"
    fi
fi
command -v curl >/dev/null || run_step "installing curl on the host" apt-get install -y curl

# --- can we reach the mirror at all? ------------------------------------------
say "checking the package mirror $MIRROR"
if ! err=$(curl -fsS -m 30 -o /dev/null "$MIRROR/dists/$SUITE/InRelease" 2>&1); then
    die "no network to the package mirror: cannot fetch $MIRROR/dists/$SUITE/InRelease ($err); set PH_DEBIAN_MIRROR to a reachable Debian mirror"
fi

# --- only now (prerequisites and mirror are fine) remove the old chroot ---------
if [ -e "$DIR" ]; then
    if [ "$REBUILD" = 1 ]; then say "--rebuild: removing $DIR"
    else say "$DIR is incomplete or from another recipe: removing it"; fi
    wipe
fi

# --- base system --------------------------------------------------------------
say "debootstrap $SUITE into $DIR (about a minute)"
run_step "debootstrap --variant=minbase $SUITE" \
    debootstrap --variant=minbase "$SUITE" "$DIR" "$MIRROR"

# apt settings for every later apt-get in the chroot (including ones run by hand):
#  - this network's sid mirror serves an expired Release file;
#  - no recommends: keeps the chroot small (no dahdi...; the French core sounds are listed
#    explicitly, for the announced wait in French).
cat >"$DIR/etc/apt/apt.conf.d/99premium-hotline-sandbox" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dpkg::Use-Pty "0";
EOF
# Package scripts must not start daemons (asterisk) inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 755 "$DIR/usr/sbin/policy-rc.d"
# Name resolution inside the chroot (the chroot shares the host's network).
cp -L /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true

run_step "apt-get update in the chroot" in_chroot apt-get update

# Say exactly which package sid lacks today, rather than a generic apt failure.
for pkg in "${PACKAGES[@]}"; do
    cand=$(in_chroot apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        die "package '$pkg' is missing from Debian $SUITE at $MIRROR today (apt-cache policy: no candidate); retry later or pin another suite"
    fi
    say "package $pkg: $cand"
done

run_step "apt-get install ${PACKAGES[*]} in the chroot" \
    in_chroot apt-get install -y --no-install-recommends "${PACKAGES[@]}"
run_step "apt-get clean in the chroot" in_chroot apt-get clean

# --- final checks ---------------------------------------------------------------
ver=$(in_chroot asterisk -V 2>&1) || die "'chroot $DIR asterisk -V' failed: $ver"
case "$ver" in
    "Asterisk 22"*) ;;
    *) die "expected Asterisk 22 in the chroot, 'asterisk -V' printed: $ver" ;;
esac
pyver=$(in_chroot python3 --version 2>&1) || die "python3 does not run in the chroot: $pyver"
pipver=$(in_chroot python3 -m pip --version 2>&1) || die "pip does not run in the chroot: $pipver"

cat >"$STAMP" <<EOF
recipe=$RECIPE
packages=${PACKAGES[*]}
asterisk=$ver
python=$pyver
pip=${pipver%% from *}
mirror=$MIRROR
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$((SECONDS - T_START))
EOF
say "ready: $DIR ($ver, $pyver) built in $((SECONDS - T_START)) s, $(du -sh --one-file-system "$DIR" | cut -f1)"
