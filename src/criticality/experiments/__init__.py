"""Experiments: each a config dataclass (with ``tiny()``) and ``run(cfg, out_dir)``."""
