#!/usr/bin/env bash
# Fetch the jars of the KCL MultiLangDaemon into vendor/kcl-jars (git-ignored), once.
#
# Which jars, and why this way: the list is the one aws-kcl ships (node_modules/aws-kcl/pom.xml:
# KCL 2.7.2, the multilang artifact and 77 jars it needs, flat; it is what aws-kcl's own
# kcl-bootstrap downloads), with OVERRIDES where KCL's own poms declare a newer version than that
# list. The list alone is not consistent: it pins protobuf-java 4.27.5, but amazon-kinesis-client
# 2.7.2 was generated with protobuf 4.31.1 (protobuf.version in the pom inside its jar, under
# META-INF/maven/), and protobuf's generated code refuses an older runtime: the daemon dies at the
# first KPL-aggregated record ("Detected incompatible Protobuf Gencode/Runtime versions"). Resolving
# the multilang artifact's full transitive closure instead would give ~60 more jars (Kafka, Kotlin,
# Wire) the daemon never loads, and Maven's nearest-wins could still pick an older version than a
# deeper pom declares; so we keep the curated list and CHECK it against the KCL jars' own poms
# (scripts/check-kcl-jars.mjs): any declared dependency present at an older version fails `make
# jars` (and the daemon launcher, scripts/kcl-daemon.sh) with one line naming the jar and both
# versions. A new aws-kcl/KCL that needs another override says so at setup, not in production.
#
# That pom has no groupId/artifactId/version of its own, which Maven refuses ("'groupId' is
# missing"), so we give it coordinates (and the overrides) in a copy under vendor/ and resolve that.
# Only the listed jars are copied (-DexcludeTransitive): the list is already complete.
# The stamp (DIR/.complete) is that generated pom: a folder fetched from another list (e.g. the
# plain aws-kcl one, before the overrides) is fetched again by the next `make setup`.
#
# KCL=3 (make jars KCL=3) fetches KCL 3.x instead, into vendor/kcl3-jars: aws-kcl has no list for
# it, so Maven resolves software.amazon.kinesis:amazon-kinesis-client-multilang:3.1.3 with its whole
# transitive closure (131 jars; protobuf 4.27.5 on both sides), and the same check runs on it.
# Locally, KCL 3 needs dynalite to create its lease-owner index: scripts/patch-dynalite.mjs.
#
# Usage: scripts/kcl-jars.sh            (KCL_JARS_DIR overrides the target folder; KCL=2|3)
# Missing java or mvn: one line on stderr, exit 0, so `make setup` goes on without the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

POM=node_modules/aws-kcl/pom.xml
KCL=${KCL:-2}
KCL3_VERSION=3.1.3
case "$KCL" in
  2) DIR=${KCL_JARS_DIR:-vendor/kcl-jars} ;;
  3) DIR=${KCL_JARS_DIR:-vendor/kcl3-jars} ;;
  *) echo "kcl-jars: KCL must be 2 or 3, got '$KCL'" >&2; exit 2 ;;
esac
# artifactId=version: where KCL 2.7.2's own poms declare newer than aws-kcl 2.3.2's list.
OVERRIDES="protobuf-java=4.31.1 schema-registry-serde=1.1.24"

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "kcl-jars: $tool not found; skipping the KCL daemon jars (install a JDK >= 8 and Maven, then run make jars)" >&2
    exit 0
  fi
done
if [ ! -f "$POM" ]; then
  echo "kcl-jars: $POM not found; run npm ci first" >&2
  exit 1
fi

mkdir -p "$(dirname "$DIR")" vendor
case "$DIR" in /*) out="$DIR.partial" ;; *) out="$PWD/$DIR.partial" ;; esac

if [ "$KCL" = 3 ]; then
  pom3=vendor/.kcl3-pom.xml
  cat >"$pom3" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local.kcl</groupId><artifactId>kcl3-jars</artifactId><version>0</version><packaging>pom</packaging>
<dependencies><dependency><groupId>software.amazon.kinesis</groupId>
<artifactId>amazon-kinesis-client-multilang</artifactId><version>$KCL3_VERSION</version></dependency></dependencies>
</project>
POM
  if [ -f "$DIR/.complete" ] && cmp -s "$DIR/.complete" "$pom3" && node scripts/check-kcl-jars.mjs "$DIR" 2>/dev/null; then
    rm -f "$pom3"
    exit 0
  fi
  rm -rf "$DIR.partial"
  echo "kcl-jars: resolving KCL $KCL3_VERSION (multilang and its closure) with Maven into $DIR" >&2
  if ! mvn -q -B -Dstyle.color=never -f "$pom3" dependency:copy-dependencies -DoutputDirectory="$out" >vendor/.kcl-mvn.log 2>&1; then
    tail -n 20 vendor/.kcl-mvn.log >&2
    echo "kcl-jars: Maven failed (full output in vendor/.kcl-mvn.log)" >&2
    exit 1
  fi
  node scripts/check-kcl-jars.mjs "$DIR.partial"
  rm -rf "$DIR"
  mv "$DIR.partial" "$DIR"
  mv "$pom3" "$DIR/.complete"
  echo "kcl-jars: $(find "$DIR" -maxdepth 1 -name '*.jar' | wc -l) jars in $DIR" >&2
  exit 0
fi

tmp_pom=vendor/.kcl-pom.xml
sed 's#<modelVersion>4.0.0</modelVersion>#<modelVersion>4.0.0</modelVersion><groupId>local.kcl</groupId><artifactId>kcl-jars</artifactId><version>0</version><packaging>pom</packaging>#' \
  "$POM" >"$tmp_pom"
for o in $OVERRIDES; do
  artifact=${o%%=*} version=${o#*=}
  sed -i "/<artifactId>$artifact<\/artifactId>/{n;s#<version>[^<]*</version>#<version>$version</version>#}" "$tmp_pom"
  if ! grep -A1 "<artifactId>$artifact</artifactId>" "$tmp_pom" | grep -q "<version>$version</version>"; then
    echo "kcl-jars: could not pin $artifact to $version in $POM (has its layout changed?)" >&2
    exit 1
  fi
done

# Complete = one jar per <dependency> of the pom, the stamp says it came from this generated pom,
# and the set passes the load check.
expected=$(grep -c '<dependency>' "$tmp_pom")
stamp="$DIR/.complete"
if [ -f "$stamp" ] && cmp -s "$stamp" "$tmp_pom" && [ "$(find "$DIR" -maxdepth 1 -name '*.jar' | wc -l)" -eq "$expected" ] \
  && node scripts/check-kcl-jars.mjs "$DIR" 2>/dev/null; then
  rm -f "$tmp_pom"
  exit 0
fi

rm -rf "$DIR.partial"
if [ -d "$DIR" ]; then
  echo "kcl-jars: $DIR is not the current jar set; fetching it again" >&2
fi
echo "kcl-jars: fetching $expected jars with Maven into $DIR" >&2
if ! mvn -q -B -Dstyle.color=never -f "$tmp_pom" dependency:copy-dependencies -DexcludeTransitive=true \
  -DoutputDirectory="$out" >vendor/.kcl-mvn.log 2>&1; then
  tail -n 20 vendor/.kcl-mvn.log >&2
  echo "kcl-jars: Maven failed (full output in vendor/.kcl-mvn.log)" >&2
  exit 1
fi
got=$(find "$DIR.partial" -maxdepth 1 -name '*.jar' | wc -l)
if [ "$got" -ne "$expected" ]; then
  echo "kcl-jars: expected $expected jars, Maven gave $got" >&2
  exit 1
fi
node scripts/check-kcl-jars.mjs "$DIR.partial"
rm -rf "$DIR"
mv "$DIR.partial" "$DIR"
mv "$tmp_pom" "$stamp"
echo "kcl-jars: $got jars in $DIR" >&2
