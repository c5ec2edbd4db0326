#!/usr/bin/env bash
# Start the KCL MultiLangDaemon (KCL 2.7.2) on a properties file, in the foreground.
#
# Usage: scripts/kcl-daemon.sh PROPERTIES_FILE
#   KCL_JARS_DIR  the jars (default vendor/kcl-jars, fetched by `make jars`)
#   KCL_LOG_FILE  append the daemon's own log there (default: stderr)
#   JAVA_OPTS     extra JVM options, e.g. -Xmx256m -Dkcl.log.level=DEBUG
#   JAVA          the java binary (default: $JAVA_HOME/bin/java, else java on PATH)
#   NODE          the node binary for the jar check (default: node on PATH)
#   KCL_DRAIN_TIMEOUT_MS  how long a worker that got SIGTERM/SIGINT (Ctrl-C, systemd stopping the
#                 control group) keeps answering the daemon before it gives up (default: the
#                 properties' shutdownGraceMillis less a tenth, at most 1 s less; unset there: the
#                 worker's own default). Workers inherit it.
# Before java starts, scripts/check-kcl-jars.mjs checks the jar set against the KCL jars' own poms:
# a set that cannot load (e.g. protobuf-java older than the one KCL was generated with, which kills
# the daemon at the first KPL-aggregated record) is refused with one line on stderr and exit 2.
# The daemon reads AWS credentials as its AwsCredentialsProvider says (for the local stack:
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment). It execs java, so the PID of
# this script is the PID of the JVM: SIGTERM to it is a graceful shutdown.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 PROPERTIES_FILE (an existing file)" >&2
  exit 2
fi
props="$1"
jars="${KCL_JARS_DIR:-$root/vendor/kcl-jars}"
if ! ls "$jars"/amazon-kinesis-client-multilang-*.jar >/dev/null 2>&1; then
  echo "kcl-daemon: no KCL jars in $jars; run make jars" >&2
  exit 2
fi
if ! "${NODE:-node}" "$root/scripts/check-kcl-jars.mjs" "$jars"; then
  exit 2
fi
if [ -z "${KCL_DRAIN_TIMEOUT_MS:-}" ]; then
  grace=$(sed -n 's/^[[:space:]]*shutdownGraceMillis[[:space:]]*=[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$props" | tail -n 1)
  if [ -n "$grace" ] && [ "$grace" -gt 0 ]; then
    margin=$((grace / 10 < 1000 ? grace / 10 : 1000))
    export KCL_DRAIN_TIMEOUT_MS=$((grace - margin))
  fi
fi
java="${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/java}}"
java="${java:-java}"

if [ -n "${KCL_LOG_FILE:-}" ]; then
  mkdir -p "$(dirname "$KCL_LOG_FILE")"
  exec 2>>"$KCL_LOG_FILE"
fi
# shellcheck disable=SC2086 # JAVA_OPTS is a list of options
exec "$java" ${JAVA_OPTS:-} -cp "$jars/*" software.amazon.kinesis.multilang.MultiLangDaemon \
  --properties-file "$props" --log-configuration "$root/kcl/kcl-logback.xml"
