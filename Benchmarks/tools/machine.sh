# Sourced by the benchmark scripts: `machine_line` prints the line every table starts with,
# the CPU model (`/proc/cpuinfo`'s first "model name") and how many CPUs this machine has —
# figures from one machine hold only there (issue 23).
machine_line() {
    local model
    model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
    echo "machine: ${model:-unknown CPU}, $(nproc) CPUs"
}
