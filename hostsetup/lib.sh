# shellcheck shell=bash
# hostsetup/lib.sh — helpers shared by every hostsetup step. Sourced, never run:
#     . "$(dirname "$(readlink -f "$0")")/lib.sh"
#
# What sourcing it does:
#   - STEP (the step name, from the script's file name) and HERE (the script's directory);
#   - STDOUT is moved to fd 3 and fd 1 becomes stderr, so nothing a step runs can write to the machine
#     output by accident; a step that has machine output writes it with `>&3` (only swarm-init does);
#   - an ERR trap naming the failing file:line and command, and an EXIT trap printing the final line:
#     `unchanged: <step>` when the run changed nothing, `changed: N item(s)` otherwise (stderr, unprefixed);
#   - a TERM/INT trap: a step stopped by its time limit (`timeout` in the program's command line) says so;
#   - umask 022, LC_ALL=C, PATH with the sbin directories, LVM_SUPPRESS_FD_WARNINGS=1.
# Functions that "return whether changed" return 0 when they changed something and 1 when not: call them in
# an `if` (or with `|| true`). Because bash disables errexit inside a function called from an `if`, every
# fallible command in them carries its own `|| die`.

STEP=$(basename -- "$0" .sh)
# shellcheck disable=SC2034 # used by the steps
HERE=$(dirname -- "$(readlink -f -- "$0")")
_hive_changes=0
_hive_apt_updated=0
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# fd 3 (below) is inherited on purpose: LVM's tools would warn "File descriptor 3 leaked" on every call
export LVM_SUPPRESS_FD_WARNINGS=1
umask 022
exec 3>&1 1>&2

log() { printf '[%s] %s\n' "$STEP" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$STEP" "$*" >&2; }
die() {
    printf '[%s] ERROR: %s\n' "$STEP" "$*" >&2
    exit 1
}

# changed WHAT — record (and print) one change.
changed() {
    _hive_changes=$((_hive_changes + 1))
    printf '[%s] changed: %s\n' "$STEP" "$*" >&2
}

hive_on_err() {
    local rc=$? line=$1 src=$2 cmd=$3
    printf '[%s] ERROR: %s:%s: command failed (exit %s): %s\n' "$STEP" "${src##*/}" "$line" "$rc" "$cmd" >&2
}

# at_exit COMMAND — run COMMAND (a string, eval'd) when the step exits, on every path, before the final line.
_hive_at_exit=()
at_exit() { _hive_at_exit+=("$1"); }

hive_on_exit() {
    local rc=$? cmd
    for cmd in "${_hive_at_exit[@]}"; do
        eval "$cmd" || true
    done
    if ((rc == 0)); then
        if ((_hive_changes == 0)); then
            printf 'unchanged: %s\n' "$STEP" >&2
        else
            printf 'changed: %d item(s)\n' "$_hive_changes" >&2
        fi
    else
        printf '[%s] FAILED (exit %d) after %d change(s)\n' "$STEP" "$rc" "$_hive_changes" >&2
    fi
}
# BASH_COMMAND is the command's source text (variables unexpanded), so a secret held in a variable never
# shows up in this message.
trap 'hive_on_err "$LINENO" "${BASH_SOURCE[0]}" "$BASH_COMMAND"' ERR
trap hive_on_exit EXIT
trap 'die "stopped by SIGTERM (its time limit?): safe to run again"' TERM
trap 'die "interrupted: safe to run again"' INT

# require_env VAR… — every VAR must be set and non-empty, else exit 2 naming them.
require_env() {
    local v missing=()
    for v in "$@"; do
        [[ -n ${!v-} ]] || missing+=("$v")
    done
    if ((${#missing[@]})); then
        printf '[%s] ERROR: missing environment: %s (usage: see the header of %s.sh)\n' \
            "$STEP" "${missing[*]}" "$STEP" >&2
        exit 2
    fi
}

require_root() {
    [[ $EUID -eq 0 ]] || die "must run as root (sudo env HIVE_...=... bash $0)"
}

# read_secret VAR — read all of stdin into VAR (trailing newlines/CR stripped); dies when empty.
read_secret() {
    local __s=''
    [[ -t 0 ]] && log "reading the secret from stdin (end with Ctrl-D)"
    IFS= read -r -d '' __s || true
    while [[ $__s == *$'\n' || $__s == *$'\r' ]]; do __s=${__s%?}; done
    [[ -n $__s ]] || die "expected a secret on stdin, got nothing"
    printf -v "$1" '%s' "$__s"
}

# read_pem_blocks — split stdin into PEM blocks, in order, into the array PEM_BLOCKS. Each element is one
# block from its BEGIN line to its END line, newline-terminated. Text outside blocks is ignored.
read_pem_blocks() {
    PEM_BLOCKS=()
    local line block='' inside=0
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%$'\r'}
        if ((!inside)) && [[ $line == -----BEGIN\ *----- ]]; then
            inside=1
            block=$line$'\n'
        elif ((inside)); then
            block+=$line$'\n'
            if [[ $line == -----END\ *----- ]]; then
                PEM_BLOCKS+=("$block")
                inside=0
                block=''
            fi
        fi
    done
    ((!inside)) || die "stdin ends inside a PEM block"
}

# file_content FILE VAR — exact content of FILE (trailing newlines kept) into VAR; empty when absent.
file_content() {
    local __c=''
    if [[ -e $1 ]]; then
        __c=$(cat -- "$1" && printf x) || die "cannot read $1"
        __c=${__c%x}
    fi
    printf -v "$2" '%s' "$__c"
}

# install_file_if_changed CONTENT DEST MODE [OWNER] — make DEST hold exactly CONTENT (a final newline is
# added when missing), with MODE (octal) and OWNER (user:group, default root:root). New content is written
# to a private temporary file beside DEST and renamed over it (never for bind-mounted files: see
# write_in_place). Returns 0 when anything changed, 1 when not.
install_file_if_changed() {
    local content=$1 dest=$2 mode=$3 owner=${4:-root:root} cur tmp did=1
    [[ -z $content || $content == *$'\n' ]] || content+=$'\n'
    mode=$((8#$mode))
    mode=$(printf '%o' "$mode")
    file_content "$dest" cur
    if [[ ! -e $dest || $cur != "$content" ]]; then
        tmp=$(mktemp "$(dirname -- "$dest")/.hive.XXXXXX") || die "cannot create a temporary file for $dest"
        { printf '%s' "$content" >"$tmp" && chmod "$mode" "$tmp" && chown "$owner" "$tmp" &&
            mv -f -- "$tmp" "$dest"; } || {
            rm -f -- "$tmp"
            die "cannot write $dest"
        }
        changed "$dest"
        return 0
    fi
    if [[ $(stat -c %a -- "$dest") != "$mode" ]]; then
        chmod "$mode" -- "$dest" || die "cannot chmod $dest"
        changed "$dest mode $mode"
        did=0
    fi
    if [[ $(stat -c %U:%G -- "$dest") != "$owner" ]]; then
        chown "$owner" -- "$dest" || die "cannot chown $dest"
        changed "$dest owner $owner"
        did=0
    fi
    return "$did"
}

# write_in_place FILE CONTENT — make FILE hold exactly CONTENT by truncating and rewriting it (same inode):
# /etc/hosts, /etc/hostname and /etc/resolv.conf may be bind mounts, where a rename over them fails.
# Returns 0 when it changed FILE, 1 when not.
write_in_place() {
    local file=$1 content=$2 cur
    file_content "$file" cur
    [[ -e $file && $cur == "$content" ]] && return 1
    printf '%s' "$content" >"$file" || die "cannot write $file"
    changed "$file"
    return 0
}

# managed_block FILE MARKER CONTENT — keep the lines
#     # BEGIN hive MARKER
#     CONTENT
#     # END hive MARKER
# in FILE, replacing an existing block in place or appending one; the rest of FILE is left alone. The file is
# rewritten in place (see write_in_place). Returns 0 when it changed FILE, 1 when not.
managed_block() {
    local file=$1 marker=$2 content=$3 begin end block out='' line inside=0 found=0
    begin="# BEGIN hive $marker"
    end="# END hive $marker"
    [[ -z $content || $content == *$'\n' ]] || content+=$'\n'
    block="$begin"$'\n'"$content$end"$'\n'
    if [[ -e $file ]]; then
        [[ -r $file ]] || die "cannot read $file"
        while IFS= read -r line || [[ -n $line ]]; do
            if ((inside)); then
                [[ $line == "$end" ]] && inside=0
            elif [[ $line == "$begin" ]]; then
                ((found)) && die "$file: more than one '$begin' block"
                inside=1
                found=1
                out+=$block
            else
                out+=$line$'\n'
            fi
        done <"$file"
        ((!inside)) || die "$file: '$begin' without '$end'"
    fi
    ((found)) || out+=$block
    write_in_place "$file" "$out"
}

# wait_apt_locks [SECONDS] — wait until no process holds dpkg's or apt's locks (default 600 s).
wait_apt_locks() {
    local timeout=${1:-600} start=$SECONDS said=0
    command -v lslocks >/dev/null || return 0
    while lslocks -n -o PATH 2>/dev/null |
        grep -Eq '^/var/(lib/dpkg/lock|lib/dpkg/lock-frontend|lib/apt/lists/lock|cache/apt/archives/lock)$'; do
        ((said)) || log "waiting for another apt/dpkg run to finish"
        said=1
        ((SECONDS - start < timeout)) || die "apt/dpkg locks still held after ${timeout}s"
        sleep 0.5
    done
}

# pkg_installed PKG — true when PKG is installed (and configured).
pkg_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == 'ii ' ]]
}

# Conditions a package entry `name@condition` may carry (components/provision/steps.py PACKAGE_CONDITIONS):
#   time_client  no time client runs here (no systemd-timesyncd) and this is no container, whose clock is its
#                host's business: time must be synchronised (swarm certificates, raft, DRBD)
#   apparmor     the kernel enforces AppArmor: docker cannot load its profile without apparmor_parser
pkg_condition() {
    case $1 in
    time_client) ! pkg_installed systemd-timesyncd && ! systemd-detect-virt --container --quiet 2>/dev/null ;;
    apparmor) [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || true) == Y ]] ;;
    *) die "unknown package condition '$1' (known: time_client apparmor)" ;;
    esac
}

# pkg_wanted SPEC… — the package names of the entries (`name` or `name@condition`) wanted on this host, into
# the array PKG_WANTED.
pkg_wanted() {
    local spec
    PKG_WANTED=()
    for spec in "$@"; do
        [[ $spec =~ ^[a-z0-9][a-z0-9+.-]+(@[a-z_]+)?$ ]] || die "'$spec' is not a package entry (name[@condition])"
        if [[ $spec == *@* ]]; then
            pkg_condition "${spec#*@}" || continue
        fi
        PKG_WANTED+=("${spec%%@*}")
    done
}

# dpkg_broken — print the packages dpkg left unfinished (half-installed, unpacked, half-configured,
# triggers awaited/pending, or reinstall-required), one per line.
dpkg_broken() {
    dpkg-query -W -f='${db:Status-Abbrev}|${binary:Package}\n' 2>/dev/null |
        awk -F'|' 'substr($1, 2, 1) ~ /[HUFWt]/ || substr($1, 3, 1) == "R" { print $2 }'
}

# dpkg_interrupted — true when dpkg's journal holds updates it never integrated (a run was killed).
dpkg_interrupted() {
    [[ -n $(find /var/lib/dpkg/updates -maxdepth 1 -type f -name '[0-9]*' -print -quit 2>/dev/null) ]]
}

_hive_apt_opts=(-q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold)

# apt_update — `apt-get update`, once per run of a step.
apt_update() {
    ((_hive_apt_updated)) && return 0
    log "apt-get update"
    apt-get "${_hive_apt_opts[@]}" update >&2 || die "apt-get update failed"
    _hive_apt_updated=1
}

# dpkg_repair — finish what a killed dpkg/apt run (a crash or reboot mid-install) left behind: integrate the
# journal and configure what was unpacked (`dpkg --configure -a`), then reinstall what is still half-installed.
# Says what it repaired (a change). Returns 0 when it repaired something, 1 when there was nothing to repair.
dpkg_repair() {
    local broken=() left=()
    mapfile -t broken < <(dpkg_broken)
    if ! dpkg_interrupted && ((${#broken[@]} == 0)); then
        return 1
    fi
    warn "dpkg was interrupted${broken[*]:+ (unfinished: ${broken[*]})}: repairing with dpkg --configure -a"
    export DEBIAN_FRONTEND=noninteractive
    wait_apt_locks 600
    dpkg --force-confdef --force-confold --configure -a >&2 || warn "dpkg --configure -a failed: reinstalling"
    mapfile -t left < <(dpkg_broken)
    if ((${#left[@]})); then
        log "reinstalling ${left[*]}"
        apt_update
        apt-get "${_hive_apt_opts[@]}" install --reinstall --no-install-recommends "${left[@]}" >&2 ||
            die "apt-get install --reinstall ${left[*]} failed"
        dpkg --configure -a >&2 || die "dpkg --configure -a still fails (see: dpkg --audit)"
    fi
    mapfile -t left < <(dpkg_broken)
    ((${#left[@]} == 0)) || die "packages still unfinished after the repair: ${left[*]} (see: dpkg --audit)"
    changed "repaired interrupted package work${broken[*]:+ (${broken[*]})}"
}

# apt_install SPEC… — install the wanted packages (see pkg_wanted) that are missing, without recommends (the
# local version of a changed conffile is kept), after repairing an interrupted dpkg run. `apt-get update` runs
# only when something must be installed, once per run.
apt_install() {
    local p missing=()
    dpkg_repair || true
    pkg_wanted "$@"
    for p in "${PKG_WANTED[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    export DEBIAN_FRONTEND=noninteractive
    wait_apt_locks 600
    apt_update
    log "installing ${missing[*]}"
    apt-get "${_hive_apt_opts[@]}" install --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
    changed "packages ${missing[*]}"
}

# systemd_running — true when systemd is PID 1 (false in a chroot).
# download_https URL FILE [SHOWN] [SHA256] — fetch URL into FILE once (FILE is kept as a cache). https only,
# redirects too (curl --proto/--proto-redir =https). With SHA256 (64 lower-case hex digits) FILE — a cached one
# too — is checked before the caller uses it; a mismatch removes it and stops. SHOWN is what messages call URL
# (a secret URL is never printed); the URL reaches curl on its stdin (-K -), not its command line (ps).
download_https() {
    local url=$1 file=$2 shown=${3:-$1} sha256=${4:-} actual
    [[ $url =~ ^https://[^[:space:]]+$ ]] || die "$shown is not an https URL"
    if [[ ! -s $file ]]; then
        mkdir -p "${file%/*}"
        log "downloading $shown"
        curl -fsSL --proto =https --proto-redir =https --retry 5 --retry-delay 3 -o "$file.part" -K - \
            <<<"url = \"$url\"" || die "cannot download $shown"
        mv -f "$file.part" "$file"
        changed "downloaded ${file##*/}"
    fi
    [[ -n $sha256 ]] || return 0
    actual=$(sha256sum "$file") || die "cannot read $file"
    actual=${actual%% *}
    if [[ $actual != "$sha256" ]]; then
        rm -f "$file"
        die "${file##*/} from $shown has SHA-256 $actual, expected $sha256 (removed; check the URL and the digest)"
    fi
    log "${file##*/}: SHA-256 checked"
}

systemd_running() { [[ -d /run/systemd/system ]]; }

# enable_unit UNIT — enable UNIT when it is not (reported as a change).
enable_unit() {
    systemctl is-enabled --quiet "$1" 2>/dev/null && return 0
    systemctl enable --quiet "$1" || die "cannot enable $1"
    changed "enabled $1"
}

# ensure_active UNIT — start UNIT when it is not running (a daemon the package step installed without
# starting it, or one a crash left stopped); reported as a change.
ensure_active() {
    systemctl is-active --quiet "$1" && return 0
    systemctl start "$1" || die "cannot start $1 (see: journalctl -u $1)"
    changed "started $1"
}

# rsyslog_apply CONF PREVIOUS — after CONF changed: check the whole rsyslog configuration (rsyslogd -N1); when it
# is rejected, put PREVIOUS back into CONF (or remove CONF when PREVIOUS is empty) and die; else restart a running
# rsyslog so it reads CONF.
rsyslog_apply() {
    local conf=$1 previous=$2
    if ! rsyslogd -N1 >/dev/null 2>&1; then
        rsyslogd -N1 || true
        if [[ -n $previous ]]; then printf '%s' "$previous" >"$conf"; else rm -f "$conf"; fi
        die "rsyslogd -N1 rejects the configuration with $conf; restored the previous state"
    fi
    if systemd_running && systemctl is-active --quiet rsyslog.service; then
        systemctl restart rsyslog.service || die "cannot restart rsyslog (see: journalctl -u rsyslog)"
        changed "restarted rsyslog"
    fi
}

# daemon_reload_if CHANGED — `systemctl daemon-reload` once, when CHANGED is 1 and systemd runs.
daemon_reload_if() {
    (($1)) && systemd_running && systemctl daemon-reload
    return 0
}

# swarm_state — this node's swarm state (inactive, pending, active, error, locked).
swarm_state() { docker info -f '{{.Swarm.LocalNodeState}}'; }

# ensure_gwbridge — before a swarm init/join: create docker_gwbridge on HIVE_GWBRIDGE_SUBNET (when set),
# replacing one that docker made on another subnet.
ensure_gwbridge() {
    local subnet=${HIVE_GWBRIDGE_SUBNET-} cur
    [[ -n $subnet ]] || return 0
    if cur=$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' docker_gwbridge 2>/dev/null); then
        [[ ${cur% } == "$subnet" ]] && return 0
        log "docker_gwbridge is on ${cur% }, want $subnet: recreating it"
        docker network rm docker_gwbridge >/dev/null
    fi
    docker network create --driver bridge --subnet "$subnet" \
        --opt com.docker.network.bridge.name=docker_gwbridge \
        --opt com.docker.network.bridge.enable_icc=false \
        --opt com.docker.network.bridge.enable_ip_masquerade=true \
        docker_gwbridge >/dev/null
    changed "docker_gwbridge on $subnet"
}

# swarm_join_api MANAGER TOKEN — join the swarm through MANAGER (ip:port) as a manager, via the Engine API:
# the token goes to the daemon on a pipe and never appears in a command line (the docker CLI only takes it
# as an argument), and is cut out of any error text. Waits (bounded) until the node is active.
swarm_join_api() {
    local manager=$1 token=$2 response code start
    ensure_gwbridge
    log "joining the swarm through $manager"
    response=$(printf '{"ListenAddr":"%s:2377","AdvertiseAddr":"%s","RemoteAddrs":["%s"],"JoinToken":"%s"}' \
        "$HIVE_ADVERTISE_ADDR" "$HIVE_ADVERTISE_ADDR" "$manager" "$token" |
        curl -sS --max-time 120 --unix-socket /var/run/docker.sock -H 'Content-Type: application/json' \
            --data-binary @- -w '\n%{http_code}' http://localhost/swarm/join) ||
        die "cannot reach the docker daemon to join the swarm"
    code=${response##*$'\n'}
    response=${response%$'\n'*}
    [[ $code == 200 ]] || die "swarm join through $manager failed (HTTP $code): ${response//"$token"/<join token>}"
    start=$SECONDS
    until [[ $(swarm_state) == active ]]; do
        ((SECONDS - start < 120)) || die "swarm state is '$(swarm_state)' 120s after joining"
        sleep 0.2
    done
    changed "joined the swarm through $manager"
}

# remove_stale_nodes — on a manager: remove node entries with this host's name and another node ID that are
# down (left behind by a replaced machine), demoting them first so the managers' quorum counts live nodes only.
remove_stale_nodes() {
    local self_id self_host nodes id host status manager_status i
    self_id=$(docker info -f '{{.Swarm.NodeID}}')
    self_host=$(docker node inspect -f '{{.Description.Hostname}}' self)
    # The swarm marks a dead machine Down only after its heartbeat period: wait for that (bounded) rather than
    # leave the entry to the next run.
    for ((i = 0; i < 120; i++)); do
        nodes=$(docker node ls --format '{{.ID}}|{{.Hostname}}|{{.Status}}|{{.ManagerStatus}}')
        grep -q "|$self_host|" <<<"$(grep -v "^$self_id|" <<<"$nodes" | grep -v '|Down|')" || break
        ((i > 0)) || log "waiting (up to 60s) for the swarm to see the previous $self_host as down"
        sleep 0.5
    done
    while IFS='|' read -r id host status manager_status; do
        [[ -n $id && $id != "$self_id" && $host == "$self_host" && $status == Down ]] || continue
        if [[ -n $manager_status ]]; then
            docker node demote "$id" >/dev/null
        fi
        docker node rm --force "$id" >/dev/null
        changed "removed stale swarm node $id ($host, down)"
    done <<<"$nodes"
}
