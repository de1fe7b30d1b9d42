"""jpcorpus: from raw web crawl to first loss curve for Japanese LLMs.

The console script lives in :mod:`jpcorpus.cli`; the work lives in the sibling packages
``pipeline`` (Beam), ``filters``, ``tokenizer`` and ``train`` (no Beam).
"""

__version__ = "0.1.0"
