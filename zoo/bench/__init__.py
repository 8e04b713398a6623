"""The benchmark harness (accuracy and speed); ``zoo-bench`` is its command."""
