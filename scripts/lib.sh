# Shared by the set-up scripts: a progress line per step, and the project's Node.js on PATH.
# shellcheck shell=bash
DSIGN_ROOT=${DSIGN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NODE_PREFIX="$DSIGN_ROOT/.tools/node"
NODE_MAJOR_MIN=22

step() { printf '==> %s\n' "$*"; }

# The Node.js 22+ that scripts/install-node.sh puts under .tools/node, when the system's is older.
if [ -x "$NODE_PREFIX/node_modules/.bin/node" ]; then
  PATH="$NODE_PREFIX/node_modules/.bin:$PATH"
  export PATH
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
