"""Autograder for the neural-networks course.

Data flows one way: ingest -> sandbox -> harness -> scoring -> (storage -> views).
"""
