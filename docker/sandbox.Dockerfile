# The production sandbox image: the student environment (grader/sandbox/student-requirements.txt,
# the one list of the course's packages; PyPI's torch wheels carry their CUDA libraries) with the
# student runner baked in. Student code runs here (as nobody, no network, read-only root: the
# docker backend adds those at `create`); it uses the GPU when the worker's engine has the NVIDIA
# runtime and CPU otherwise.
#
#   docker build -f docker/sandbox.Dockerfile -t grader-sandbox:latest .
#
# Air-gapped sites and CI build the offline variant instead: `grader sandbox build`.
FROM python:3.11-slim

COPY grader/sandbox/student-requirements.txt /tmp/student-requirements.txt
RUN pip install --no-cache-dir -r /tmp/student-requirements.txt \
    && python3 -c "import numpy, torch, torchvision, matplotlib, sklearn, seaborn, tqdm" \
    && rm /tmp/student-requirements.txt

# The student side of the harness: the runner and its wire protocol, nothing else of the grader.
COPY grader/harness/student_runner.py grader/harness/wire.py /opt/grader/
LABEL grader.runtime="baked"
USER 65534:65534
WORKDIR /work
