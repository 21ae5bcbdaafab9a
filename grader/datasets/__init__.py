"""MNIST and Fashion-MNIST for the hidden suites, in three stages: `files` finds, verifies,
decodes and caches the IDX files; `splits` is the grading data protocol; `commands` are the CLI's
`check` and `fetch`."""
from ..errors import DatasetError
from .commands import CheckLine, check, fetch
from .files import FILES, NEEDED, KnownFile, load, locate, parse_idx, search_dirs
from .splits import FASHION_EVAL_SEED, FASHION_TRAIN_SEED, Split, grading_split, stratified_indices

__all__ = ["CheckLine", "DatasetError", "FASHION_EVAL_SEED", "FASHION_TRAIN_SEED", "FILES", "KnownFile",
           "NEEDED", "Split", "check", "fetch", "grading_split", "load", "locate", "parse_idx",
           "search_dirs", "stratified_indices"]
