#!/usr/bin/env bash
# Stop what start.sh started, by the PIDs in its pid files (never by process name).
# PURGE=1 also deletes $DEV_SLURM_ROOT.
set -uo pipefail
ROOT=${DEV_SLURM_ROOT:-/tmp/mlab-dev-slurm}
export SLURM_CONF=$ROOT/etc/slurm.conf

stop() {  # stop NAME...: SIGTERM, wait up to 15 s, then SIGKILL
  local name pid
  for name in "$@"; do
    [[ -s $ROOT/run/$name.pid ]] || continue
    pid=$(cat "$ROOT/run/$name.pid")
    rm -f "$ROOT/run/$name.pid"
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid"
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "[dev-slurm] $name ($pid) did not stop: SIGKILL"; kill -KILL "$pid"; }
  done
}

if [[ -s $ROOT/run/slurmctld.pid ]] && kill -0 "$(cat "$ROOT/run/slurmctld.pid")" 2>/dev/null; then
  scancel --user="$(id -un)" 2>/dev/null || true
  for _ in $(seq 150); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.1; done
fi
stop slurmd slurmctld
stop slurmdbd
stop mysqld
stop munged
[[ ${PURGE:-0} == 1 ]] && rm -rf "$ROOT"
echo "[dev-slurm] stopped"
exit 0
