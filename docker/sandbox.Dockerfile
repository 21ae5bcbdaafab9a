# The production sandbox image: CUDA + PyTorch with the student runner baked in. Student code runs
# here (as nobody, no network, read-only root: the docker backend adds those at `create`); it uses
# the GPU when the worker's engine has the NVIDIA runtime and CPU otherwise.
#
#   docker build -f docker/sandbox.Dockerfile -t grader-sandbox:latest .
#
# Air-gapped sites and CI build the offline variant instead: `grader sandbox build`.
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

RUN pip install --no-cache-dir "numpy<3" "torchvision==0.24.1" scikit-learn matplotlib \
    && python3 -c "import numpy, torch, torchvision, sklearn, matplotlib"

# The student side of the harness: the runner and its wire protocol, nothing else of the grader.
COPY grader/harness/student_runner.py grader/harness/wire.py /opt/grader/
LABEL grader.runtime="baked"
USER 65534:65534
WORKDIR /work
