#!/usr/bin/env bash
# Makes sure what the test suite needs is there before it runs: a MariaDB server
# answering on 127.0.0.1:3306 (or $MARIADB_URL) and Debian's Chromium at
# /usr/bin/chromium. Starts or installs them when it can (root with apt-get);
# otherwise fails loudly: the suite never skips what it cannot run.
set -euo pipefail

say() { printf 'ensure-test-services: %s\n' "$*" >&2; }
apt_ready=0
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "need $* but cannot install it (not root or no apt-get); install it and run again"
    exit 1
  fi
  # Another apt-get (another checkout's test run) may hold the dpkg lock: wait for it,
  # and try again a few times if it still got in the way.
  local lock=(-o DPkg::Lock::Timeout=300)
  if [ "$apt_ready" = 0 ]; then
    say "apt-get update"
    for attempt in 1 2 3; do
      DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" update -qq && break
      [ "$attempt" = 3 ] && exit 1
      sleep 5
    done
    apt_ready=1
  fi
  say "installing $*"
  for attempt in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends "$@" >/dev/null && return 0
    [ "$attempt" = 3 ] && exit 1
    say "apt-get install failed (attempt $attempt); retrying"
    sleep 5
  done
}

mariadb_answers() {
  if [ -n "${MARIADB_URL:-}" ]; then
    node -e 'const u=new URL(process.env.MARIADB_URL);const s=require("net").connect(+(u.port||3306),u.hostname);s.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1));setTimeout(()=>process.exit(1),2000)'
  else
    mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping --silent >/dev/null 2>&1
  fi
}

# MariaDB: the suite uses the real server (a throwaway one for outage tests needs mariadbd too).
if [ ! -x /usr/sbin/mariadbd ]; then
  apt_install mariadb-server mariadb-client
fi
if ! mariadb_answers; then
  say "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    mariadb_answers && break
    sleep 1
  done
  mariadb_answers || { say "MariaDB did not answer within 60 s"; exit 1; }
fi
say "MariaDB answers"

# Chromium for the browser tests (playwright-core drives it; it never downloads a browser).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
[ -x /usr/bin/chromium ] || { say "/usr/bin/chromium is missing"; exit 1; }
say "Chromium at /usr/bin/chromium"

# openssl makes the throwaway certificates of the TLS tests.
command -v openssl >/dev/null || apt_install openssl

# python-websockets (Debian's, for Debian's /usr/bin/python3): a second independent client that offers permessage-deflate (the deflate-limit tests).
/usr/bin/python3 -c 'import websockets' 2>/dev/null || apt_install python3-websockets
/usr/bin/python3 -c 'import websockets' 2>/dev/null || { say "python3-websockets is missing"; exit 1; }
say "python3-websockets $(/usr/bin/python3 -c 'import websockets; print(websockets.__version__)')"
# Redis for the cluster tests: the shared server on 127.0.0.1:6379 (or $REDIS_URL),
# and the redis-server binary, which the outage tests also start on ports of their own.
redis_answers() {
  local url="${REDIS_URL:-redis://127.0.0.1:6379}"
  node -e 'const u=new URL(process.argv[1]);const s=require("net").connect(+(u.port||6379),u.hostname||"127.0.0.1");s.on("connect",()=>s.write("PING\r\n"));s.on("data",d=>process.exit(String(d).startsWith("+PONG")?0:1));s.on("error",()=>process.exit(1));setTimeout(()=>process.exit(1),2000)' "$url"
}
if [ ! -x /usr/bin/redis-server ]; then
  # Another job may hold the dpkg lock for a while: wait for it rather than fail.
  for attempt in $(seq 1 30); do
    if apt_install redis-server 2>/dev/null; then break; fi
    say "apt-get busy (attempt $attempt), retrying in 10 s"
    sleep 10
  done
  [ -x /usr/bin/redis-server ] || { say "could not install redis-server"; exit 1; }
fi
if ! redis_answers; then
  if [ -n "${REDIS_URL:-}" ]; then say "REDIS_URL=$REDIS_URL does not answer"; exit 1; fi
  say "starting Redis on 127.0.0.1:6379"
  /usr/bin/redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --save '' --appendonly no --dir /tmp >/dev/null
  for _ in $(seq 1 30); do
    redis_answers && break
    sleep 1
  done
  redis_answers || { say "Redis did not answer within 30 s"; exit 1; }
fi
say "Redis answers"
