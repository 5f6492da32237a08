#!/bin/sh
# Installs the Node dependencies of the cross-implementation check
# (face-api 1.7.15 on pure-JS TF.js 4.22.0; "@tensorflow/tfjs-node" is aliased
# to plain tfjs so face-api's CommonJS build loads without native binaries).
set -eu
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
	npm ci --no-audit --no-fund --ignore-scripts
else
	npm install --no-audit --no-fund --ignore-scripts
fi
