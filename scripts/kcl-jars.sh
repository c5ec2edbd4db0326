#!/usr/bin/env bash
# Fetch the jars of the KCL MultiLangDaemon into vendor/kcl-jars (git-ignored), once.
#
# The list is the one aws-kcl ships (node_modules/aws-kcl/pom.xml: KCL 2.7.2 and the 78 jars it
# needs, the multilang artifact included); it is what aws-kcl's own kcl-bootstrap downloads.
# That pom has no groupId/artifactId/version of its own, which Maven refuses ("'groupId' is
# missing"), so we give it coordinates in a copy under vendor/ and resolve that copy.
# Only the listed jars are copied (-DexcludeTransitive): the list is already complete, and the
# transitive closure drags in ~60 more (Kafka, Kotlin, Wire) the daemon never loads.
#
# Usage: scripts/kcl-jars.sh            (KCL_JARS_DIR overrides the target folder)
# Missing java or mvn: one line on stderr, exit 0, so `make setup` goes on without the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

POM=node_modules/aws-kcl/pom.xml
DIR=${KCL_JARS_DIR:-vendor/kcl-jars}

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

# Complete = one jar per <dependency> of the pom, and the stamp says it came from this pom.
expected=$(grep -c '<dependency>' "$POM")
stamp="$DIR/.complete"
if [ -f "$stamp" ] && cmp -s "$stamp" "$POM" && [ "$(find "$DIR" -maxdepth 1 -name '*.jar' | wc -l)" -eq "$expected" ]; then
  exit 0
fi

mkdir -p "$(dirname "$DIR")" vendor
tmp_pom=vendor/.kcl-pom.xml
sed 's#<modelVersion>4.0.0</modelVersion>#<modelVersion>4.0.0</modelVersion><groupId>local.kcl</groupId><artifactId>kcl-jars</artifactId><version>0</version><packaging>pom</packaging>#' \
  "$POM" >"$tmp_pom"
rm -rf "$DIR.partial"
echo "kcl-jars: fetching $expected jars with Maven into $DIR" >&2
mvn -q -B -f "$tmp_pom" dependency:copy-dependencies -DexcludeTransitive=true \
  -DoutputDirectory="$PWD/$DIR.partial" >&2
got=$(find "$DIR.partial" -maxdepth 1 -name '*.jar' | wc -l)
if [ "$got" -ne "$expected" ]; then
  echo "kcl-jars: expected $expected jars, Maven gave $got" >&2
  exit 1
fi
rm -rf "$DIR"
mv "$DIR.partial" "$DIR"
cp "$POM" "$stamp"
rm -f "$tmp_pom"
echo "kcl-jars: $got jars in $DIR" >&2
