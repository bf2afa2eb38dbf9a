#!/usr/bin/env bash
# A long mixed load against real memcached (plain and TLS) that are killed and restarted every
# couple of minutes, while the network between client and servers fails in turn: 3 % packet
# loss, a partition that heals, a 1 Mbit/s bottleneck. `mcpool soak` checks every value it
# reads (no call may return a value never written for its key), that no call hangs, and that
# its memory and descriptors stay flat; it prints a row a minute and a verdict.
#
#   scripts/soak.sh --minutes 30               # as root: servers in a network namespace, faults on
#   scripts/soak.sh --minutes 5 --no-faults    # restarts only, servers on 127.0.0.1
#
# The faults need root, iproute2 (ip netns, tc) and nftables; this kernel has no netem, so
# loss and partitions are nftables rules inside the servers' namespace and the bottleneck is
# the tbf qdisc. Exits with mcpool soak's status (0: passed).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=30
restart_every=120
faults=1
while (($#)); do
    case "$1" in
        --minutes) minutes=$2; shift 2 ;;
        --restart-every) restart_every=$2; shift 2 ;;
        --no-faults) faults=0; shift ;;
        *) echo "usage: $0 [--minutes N] [--restart-every SECONDS] [--no-faults]" >&2; exit 2 ;;
    esac
done

need=(memcached)
((faults)) && need+=(iproute2 nftables)
missing=()
for package in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((faults)) && { [ "$(id -u)" -ne 0 ] || ! ip netns add mcsoak-probe 2>/dev/null; }; then
    echo "soak: network namespaces need root; running with restarts only (--no-faults)" >&2
    faults=0
fi
((faults)) && ip netns del mcsoak-probe

swift build -c release --product mcpool 2>&1 | tail -n 1
mcpool=$(swift build -c release --show-bin-path)/mcpool

tls=(-Z -o "ssl_chain_cert=$PWD/Fixtures/tls/server-chain.pem,ssl_key=$PWD/Fixtures/tls/server.key")
user=()
[ "$(id -u)" -eq 0 ] && user=(-u root)
netns=mcsoak
host=127.0.0.1
run_in_servers=()
if ((faults)); then
    # The servers live in their own namespace behind a veth pair; the client stays here.
    ip netns del "$netns" 2>/dev/null || true
    ip netns add "$netns"
    ip link add mcsoak-cli type veth peer name mcsoak-srv
    ip link set mcsoak-srv netns "$netns"
    ip addr add 10.77.0.1/24 dev mcsoak-cli
    ip link set mcsoak-cli up
    ip netns exec "$netns" ip addr add 10.77.0.2/24 dev mcsoak-srv
    ip netns exec "$netns" ip link set mcsoak-srv up
    ip netns exec "$netns" ip link set lo up
    ip netns exec "$netns" nft add table inet soak
    ip netns exec "$netns" nft add chain inet soak input '{ type filter hook input priority 0; }'
    ip netns exec "$netns" nft add chain inet soak output '{ type filter hook output priority 0; }'
    host=10.77.0.2
    run_in_servers=(ip netns exec "$netns")
fi

pids=()
start_servers() {
    "${run_in_servers[@]}" memcached "${user[@]}" -l "$host" -p 11311 -t 2 -U 0 & pids=($!)
    "${run_in_servers[@]}" memcached "${user[@]}" -l "$host" -p 11312 -t 2 -U 0 "${tls[@]}" & pids+=($!)
}
stop_servers() {
    # Debian's memcached ignores SIGTERM: a kill, as a crash would be.
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait "${pids[@]}" 2>/dev/null || true
}
clear_faults() {
    ((faults)) || return 0
    ip netns exec "$netns" nft flush chain inet soak input
    ip netns exec "$netns" nft flush chain inet soak output
    ip netns exec "$netns" tc qdisc del dev mcsoak-srv root 2>/dev/null || true
}
fault() {
    ((faults)) || return 0
    clear_faults
    local ports='{ 11311, 11312 }'
    case "$1" in
        loss)
            echo "soak: fault: 3 % packet loss each way" >&2
            ip netns exec "$netns" nft add rule inet soak input tcp dport "$ports" numgen random mod 100 '<' 3 drop
            ip netns exec "$netns" nft add rule inet soak output tcp sport "$ports" numgen random mod 100 '<' 3 drop ;;
        partition)
            echo "soak: fault: partition for 20 s, then healed" >&2
            ip netns exec "$netns" nft add rule inet soak input tcp dport "$ports" drop
            ip netns exec "$netns" nft add rule inet soak output tcp sport "$ports" drop
            (sleep 20; clear_faults; echo "soak: partition healed" >&2) &
            healer=$! ;;
        bandwidth)
            echo "soak: fault: 1 Mbit/s bottleneck (tbf)" >&2
            ip netns exec "$netns" tc qdisc add dev mcsoak-srv root tbf rate 1mbit burst 32kbit latency 200ms ;;
        none) echo "soak: no fault" >&2 ;;
    esac
}
healer=""
cleanup() {
    [ -n "$healer" ] && kill "$healer" 2>/dev/null || true
    stop_servers
    if ((faults)); then
        ip link del mcsoak-cli 2>/dev/null || true
        ip netns del "$netns" 2>/dev/null || true
    fi
}
trap cleanup EXIT

start_servers
sleep 1
"$mcpool" soak --server "$host:11311" --tls-server "$host:11312" --ca Fixtures/tls/ca.pem --minutes "$minutes" &
soak=$!

# Every --restart-every seconds: the servers are killed and started again, and the next
# network fault begins.
kinds=(none loss partition bandwidth)
block=0
while kill -0 "$soak" 2>/dev/null; do
    for ((waited = 0; waited < restart_every; waited++)); do
        kill -0 "$soak" 2>/dev/null || break 2
        sleep 1
    done
    kill -0 "$soak" 2>/dev/null || break
    block=$((block + 1))
    echo "soak: restarting the servers" >&2
    stop_servers
    start_servers
    fault "${kinds[block % ${#kinds[@]}]}"
done
set +e
wait "$soak"
status=$?
exit $status
