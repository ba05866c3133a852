#!/bin/sh
# space/assemble.sh DIR: put into DIR (a clone of a Docker Space) exactly the files the Space
# builds from: app.py, genai_ui/, requirements.txt, Dockerfile, .dockerignore, and space/README.md
# as its README.md (the Space's card and settings). genai_ui/ is replaced whole, so a file deleted
# here is deleted there too; DIR's .git and anything else in it are left alone.
set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: space/assemble.sh DIR  (DIR: an existing folder, e.g. a clone of your Space)" >&2
    exit 2
fi
target=$1
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(cd "$target" && pwd)" = "$repo" ]; then
    echo "DIR must be another folder than this repository" >&2
    exit 2
fi

cp "$repo/app.py" "$repo/requirements.txt" "$repo/Dockerfile" "$repo/.dockerignore" "$target/"
cp "$repo/space/README.md" "$target/README.md"
rm -rf "$target/genai_ui"
cp -R "$repo/genai_ui" "$target/genai_ui"
find "$target/genai_ui" -name __pycache__ -type d -prune -exec rm -rf {} +

echo "Assembled the Space in $target:"
(cd "$target" && ls -A | grep -v '^\.git$')
