"""Pipeline specs, stage caching, ablation grids, the built-in demo."""
