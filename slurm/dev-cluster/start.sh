#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for tests and for trying `mlab-hpc submit`.
#
#   bash slurm/dev-cluster/start.sh            # then: export SLURM_CONF=$DEV_SLURM_ROOT/etc/slurm.conf
#   bash slurm/dev-cluster/stop.sh
#
# Daemons: munged, mariadbd + slurmdbd (accounting, so that sacct reports jobs that died without
# a result: TIMEOUT, CANCELLED, NODE_FAIL), slurmctld, slurmd. Every file (config, keys, database,
# state, logs, pid files, sockets) lives under $DEV_SLURM_ROOT (default /tmp/mlab-dev-slurm).
# Needs root and Debian's packages (installed when missing): slurm-wlm munge slurmdbd mariadb-server.
# Idempotent: when the cluster already answers, it says so and exits 0.
#
# Environment:
#   DEV_SLURM_ROOT  state folder                    ACCOUNTING=0  no MariaDB/slurmdbd (no sacct)
#   FAKE_GPUS=N     N fake GPUs (gres/gpu), each a distinct char device copied from /dev/null
#   SLURM_MEM_MB    RealMemory of the node (default: 80% of what slurmd -C sees)
#   DEV_SLURM_PORT  first of 4 TCP ports on 127.0.0.1 (slurmctld, slurmd, slurmdbd, MariaDB);
#                   default 6817; give each cluster on one machine its own
#   MEMORY_LIMITS   how a job's --mem is enforced: cgroup (task/cgroup, ConstrainRAMSpace: the
#                   kernel's OOM killer, sacct says OUT_OF_MEMORY), poll (JobAcctGatherParams=
#                   OverMemoryKill: the step is killed when a sample exceeds it), none; default
#                   auto: cgroup where the cgroup v1 memory controller is writable, else poll
set -euo pipefail

ROOT=${DEV_SLURM_ROOT:-/tmp/mlab-dev-slurm}
ACCOUNTING=${ACCOUNTING:-1}
FAKE_GPUS=${FAKE_GPUS:-0}
PORT=${DEV_SLURM_PORT:-6817}
CTLD_PORT=$PORT; SLURMD_PORT=$((PORT + 1)); DBD_PORT=$((PORT + 2)); DB_PORT=$((PORT + 3))
HOST=$(hostname -s)
export SLURM_CONF=$ROOT/etc/slurm.conf
say() { echo "[dev-slurm] $*"; }
alive() { [[ -s $ROOT/run/$1.pid ]] && kill -0 "$(cat "$ROOT/run/$1.pid")" 2>/dev/null; }

if alive slurmctld && alive slurmd && timeout 5 sinfo -h >/dev/null 2>&1; then
  say "already running under $ROOT"
  echo "export SLURM_CONF=$SLURM_CONF"
  exit 0
fi
for daemon in munged mysqld slurmdbd slurmctld slurmd; do
  if alive "$daemon"; then
    say "$daemon is running but the cluster does not answer: run stop.sh first" >&2
    exit 1
  fi
done

for port in $CTLD_PORT $SLURMD_PORT $DBD_PORT $DB_PORT; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    say "port $port on 127.0.0.1 is taken (another dev cluster?): stop it, or set DEV_SLURM_PORT" >&2
    exit 1
  fi
done

# ---- packages --------------------------------------------------------------------------
need=(munged slurmctld slurmd sinfo)
pkgs=(slurm-wlm munge)
if [[ $ACCOUNTING == 1 ]]; then need+=(slurmdbd mariadbd mariadb-install-db); pkgs+=(slurmdbd mariadb-server); fi
for bin in "${need[@]}"; do
  if ! command -v "$bin" >/dev/null; then
    say "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    mkdir -p "$ROOT"
    { apt-get update -qq && apt-get install -y -qq "${pkgs[@]}"; } > "$ROOT/apt.log" 2>&1 \
      || { say "apt-get install failed; see $ROOT/apt.log" >&2; exit 1; }
    break
  fi
done

mkdir -p "$ROOT"/{etc,state,spool,log,run,munge}
chmod 711 "$ROOT/munge"

# ---- munge (private socket and key) ---------------------------------------------------
SOCK=$ROOT/munge/munge.socket
[[ -s $ROOT/munge/munge.key ]] || head -c 1024 /dev/urandom > "$ROOT/munge/munge.key"
chmod 400 "$ROOT/munge/munge.key"
munged --force --socket="$SOCK" --key-file="$ROOT/munge/munge.key" \
  --pid-file="$ROOT/run/munged.pid" --log-file="$ROOT/log/munged.log" \
  --seed-file="$ROOT/munge/seed"
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.05; done
munge -n -S "$SOCK" | unmunge -S "$SOCK" >/dev/null

# ---- accounting -------------------------------------------------------------------------
if [[ $ACCOUNTING == 1 ]]; then
  DB=$ROOT/mysql
  DBSOCK=$ROOT/run/mysqld.sock
  if [[ ! -d $DB/mysql ]]; then
    mariadb-install-db --no-defaults --datadir="$DB" --user=root \
      --auth-root-authentication-method=normal --skip-test-db > "$ROOT/log/mysql-install.log" 2>&1
  fi
  setsid mariadbd --no-defaults --datadir="$DB" --user=root --bind-address=127.0.0.1 \
    --port=$DB_PORT --socket="$DBSOCK" --log-error="$ROOT/log/mysqld.log" --skip-log-bin \
    --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 \
    < /dev/null > /dev/null 2>&1 &
  echo $! > "$ROOT/run/mysqld.pid"
  for _ in $(seq 300); do mariadb-admin --socket="$DBSOCK" -uroot ping >/dev/null 2>&1 && break; sleep 0.1; done
  if ! mariadb-admin --socket="$DBSOCK" -uroot ping >/dev/null 2>&1; then
    say "MariaDB did not start; the end of $ROOT/log/mysqld.log:" >&2
    tail -3 "$ROOT/log/mysqld.log" >&2
    exit 1
  fi
  mariadb --socket="$DBSOCK" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'dev-only';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'dev-only';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
  # slurmdbd looks for slurmdbd.conf beside slurm.conf
  cat > "$ROOT/etc/slurmdbd.conf" <<EOF2
AuthType=auth/munge
AuthInfo=socket=$SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=dev-only
StorageLoc=slurm_acct_db
LogFile=$ROOT/log/slurmdbd.log
PidFile=$ROOT/run/slurmdbd.pid
EOF2
  chmod 600 "$ROOT/etc/slurmdbd.conf"
  # AccountingStoragePass carries the munge socket when it is not the default one
  ACCOUNTING_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$SOCK
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
  ACCOUNTING_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

# ---- memory limits ----------------------------------------------------------------------
MEMORY_LIMITS=${MEMORY_LIMITS:-auto}
CGROUP_ROOT=/sys/fs/cgroup
if [[ $MEMORY_LIMITS == auto ]]; then
  MEMORY_LIMITS=poll
  probe=$CGROUP_ROOT/memory/mlab-dev-probe.$$
  if mkdir "$probe" 2>/dev/null; then rmdir "$probe"; MEMORY_LIMITS=cgroup; fi
fi
[[ $ACCOUNTING == 1 || $MEMORY_LIMITS != poll ]] || MEMORY_LIMITS=none  # polling needs jobacct
TASK_PLUGIN=task/none
MEMORY_CONF=""
rm -f "$ROOT/etc/cgroup.conf"
case $MEMORY_LIMITS in
  cgroup)
    TASK_PLUGIN=task/cgroup
    cat > "$ROOT/etc/cgroup.conf" <<EOF2
CgroupPlugin=cgroup/v1
CgroupMountpoint=$CGROUP_ROOT
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
ConstrainCores=no
ConstrainDevices=no
EOF2
    ;;
  poll)
    MEMORY_CONF="JobAcctGatherParams=OverMemoryKill"
    ACCOUNTING_CONF=${ACCOUNTING_CONF/JobAcctGatherFrequency=30/JobAcctGatherFrequency=5}
    ;;
  none) ;;
  *) say "MEMORY_LIMITS=$MEMORY_LIMITS: use cgroup, poll, none or auto" >&2; exit 1 ;;
esac

# ---- slurm.conf ---------------------------------------------------------------------------
if [[ -z ${SLURM_MEM_MB:-} ]]; then
  seen=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  SLURM_MEM_MB=$(( seen * 8 / 10 ))
fi
GRES_LINE=""
GRES_NODE=""
rm -f "$ROOT/etc/gres.conf"
if (( FAKE_GPUS > 0 )); then
  # slurmd needs one distinct character device per GPU to set CUDA_VISIBLE_DEVICES
  mkdir -p "$ROOT/dev"
  for i in $(seq 0 $(( FAKE_GPUS - 1 ))); do
    rm -f "$ROOT/dev/nvidia$i"
    mknod "$ROOT/dev/nvidia$i" c 1 3
    echo "NodeName=$HOST Name=gpu File=$ROOT/dev/nvidia$i" >> "$ROOT/etc/gres.conf"
  done
  GRES_LINE="GresTypes=gpu"
  [[ $ACCOUNTING == 1 ]] && GRES_LINE="$GRES_LINE
AccountingStorageTRES=gres/gpu"
  GRES_NODE="Gres=gpu:$FAKE_GPUS"
fi

cat > "$SLURM_CONF" <<EOF2
ClusterName=mlabdev
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/run/slurmctld.pid
SlurmdPidFile=$ROOT/run/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=$TASK_PLUGIN
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SwitchType=switch/none
MpiDefault=none
$ACCOUNTING_CONF
$MEMORY_CONF
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=300
MaxJobCount=20000
OverTimeLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
Waittime=0
$GRES_LINE
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$SLURM_MEM_MB $GRES_NODE State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF2

# ---- daemons ------------------------------------------------------------------------------
if [[ $ACCOUNTING == 1 ]]; then
  slurmdbd
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$DBD_PORT) 2>/dev/null && break; sleep 0.1; done
  sacctmgr -i add cluster mlabdev > "$ROOT/log/sacctmgr.log" 2>&1 || grep -q "already exists" "$ROOT/log/sacctmgr.log" \
    || { say "sacctmgr add cluster failed:" >&2; cat "$ROOT/log/sacctmgr.log" >&2; }
fi
slurmctld -c -f "$SLURM_CONF" || { say "slurmctld did not start:" >&2; tail -5 "$ROOT/log/slurmctld.log" >&2; exit 1; }
slurmd -f "$SLURM_CONF" || { say "slurmd did not start:" >&2; tail -5 "$ROOT/log/slurmd.log" >&2; exit 1; }

for _ in $(seq 300); do
  state=$(timeout 5 sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
  [[ $state == idle* || $state == mix* || $state == alloc* ]] && break
  sleep 0.1
done
if [[ ! $state =~ ^(idle|mix|alloc) ]]; then
  say "the node did not come up (state '$state'); logs in $ROOT/log" >&2
  tail -5 "$ROOT/log/slurmctld.log" "$ROOT/log/slurmd.log" >&2
  exit 1
fi
say "up under $ROOT (partitions cpu, gpu; $FAKE_GPUS fake GPUs; accounting=$ACCOUNTING; memory limits: $MEMORY_LIMITS)"
echo "export SLURM_CONF=$SLURM_CONF"
