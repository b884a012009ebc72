"""On-demand benchmarks: `python -m tests.bench SCENARIO [--smoke]`.

Each scenario measures its baseline in the same run as the candidate, because these
machines are shared and noisy: only the ratio is comparable between runs.
"""
