#!/usr/bin/env bash
# Build the Gradescope autograder zip for one exercise:
#
#   docker/gradescope/make_bundle.sh EXERCISE [OUT.zip]      (default: ./gradescope-EXERCISE.zip)
#
# The zip holds, at its root (Gradescope looks there): setup.sh, run_autograder, exercise_id and
# nn-grader/, a copy of this repository at its current commit (`git archive HEAD`: committed files
# only, so commit what you want graded with first).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel)"
EXERCISE="${1:?usage: make_bundle.sh EXERCISE [OUT.zip]  (exercise ids: the folders of exercises/)}"
OUT="${2:-$PWD/gradescope-$EXERCISE.zip}"

if [ ! -f "$REPO/exercises/$EXERCISE/exercise.toml" ]; then
    echo "make_bundle.sh: unknown exercise '$EXERCISE'; known:" \
         $(cd "$REPO/exercises" && ls -d */ 2>/dev/null | tr -d /) >&2
    exit 2
fi
if ! git -C "$REPO" cat-file -e "HEAD:exercises/$EXERCISE/exercise.toml" 2>/dev/null; then
    echo "make_bundle.sh: exercises/$EXERCISE is not committed; the bundle ships HEAD only" >&2
    exit 2
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$HERE/setup.sh" "$HERE/run_autograder" "$stage/"
echo "$EXERCISE" > "$stage/exercise_id"
git -C "$REPO" archive --format=tar --prefix=nn-grader/ HEAD | tar -x -C "$stage"

# Python's zipfile keeps the files' modes (run_autograder must stay executable).
rm -f "$OUT"
python3 - "$stage" "$OUT" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
    for folder, dirs, files in os.walk(stage):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            zf.write(path, os.path.relpath(path, stage))
PY
echo "wrote $OUT: exercise $EXERCISE, grader at $(git -C "$REPO" rev-parse --short HEAD)"
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
    echo "note: the working tree has uncommitted changes; they are not in the bundle" >&2
fi
