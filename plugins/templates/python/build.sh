#!/bin/sh
# Builds {{wasm}} from app.py with componentize-py
# (`python3 -m pip install -r requirements.txt` installs it).
set -e
cd "$(dirname "$0")"
componentize-py -d wit -w {{world}} componentize app -o {{wasm}}
