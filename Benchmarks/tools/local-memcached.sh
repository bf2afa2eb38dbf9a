# Sourced by the counting scripts: starts a memcached 1.6.18 (-t 2, no UDP) on a free loopback
# port, sets `port`, and adds its pid to the caller's `pids` (killed by the caller's cleanup).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(-u root)
port=$(free_port)
memcached -l 127.0.0.1 -p "$port" -U 0 -t 2 "${as_root[@]}" &
disown
pids+=($!)
sleep 1
