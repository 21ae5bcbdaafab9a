"""The two-process harness: the hidden suite (trusted) talks to the student's code (sandboxed).

`wire` is the data-only protocol both sides speak; `student_runner` is the only code that runs
next to the student's; `client` is the trusted side's proxy; `plugin` hooks it into pytest.
"""
