#!/usr/bin/env bash
# Refresh the vendored browser files from the npm registry: exact versions, each with its license.
# Needs npm (only to refresh; the service and its tests never need Node.js). Edit VERSIONS, run it,
# commit web/vendor/. Usage: bash web/vendor/refresh.sh
set -euo pipefail
cd "$(dirname "$0")"

# package@version  files to keep (paths inside the package)
VERSIONS=(
  "graphql-ws@6.4.2 LICENSE.md umd/graphql-ws.min.js"
  "react@18.2.0 LICENSE umd/react.production.min.js"
  "react-dom@18.2.0 LICENSE umd/react-dom.production.min.js"
  "graphiql@3.8.3 LICENSE graphiql.min.js graphiql.min.css"
  "axe-core@4.14.1 LICENSE axe.min.js"
  "uplot@1.6.32 LICENSE dist/uPlot.iife.min.js dist/uPlot.min.css"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
  echo "# Vendored browser files"
  echo
  echo "Fetched by \`refresh.sh\` from the npm registry (\`npm pack\`); do not edit by hand."
  echo "graphql-ws is the console's websocket client; react, react-dom and graphiql serve GraphiQL at"
  echo "/graphql offline; uplot draws the balance-history chart (loaded only where a chart is shown);"
  echo "axe-core is used by the browser tests only."
  echo
  echo "| package | version | license file | files | sha256 of the tarball |"
  echo "| --- | --- | --- | --- | --- |"
} > README.md.new
for line in "${VERSIONS[@]}"; do
  read -r spec license files <<<"$line"
  name=${spec%@*}
  rm -rf "$spec" && mkdir -p "$spec"
  tarball=$(cd "$work" && npm pack --silent "$spec")
  sha=$(sha256sum "$work/$tarball" | cut -d' ' -f1)
  mkdir -p "$work/$name" && tar xzf "$work/$tarball" -C "$work/$name"
  cp "$work/$name/package/$license" "$spec/"
  kept=()
  for pattern in $files; do
    for file in "$work/$name/package/"$pattern; do
      cp "$file" "$spec/"
      kept+=("$(basename "$file")")
    done
  done
  echo "| $name | ${spec##*@} | $license | ${kept[*]} | \`$sha\` |" >> README.md.new
done
mv README.md.new README.md
echo "vendored: ${VERSIONS[*]%% *}"
