"""What a run directory becomes for people and other tools.

Modules: ``report`` (one run's report; the batch report), ``report_batch`` (the
ablation table), ``report_figures`` / ``report_panels`` (its comparison plots and
qualitative panels), ``report_render`` (markdown / HTML), ``plots`` and
``panels`` (PNG drawing), ``export`` (``zs export``: standard prediction files).
"""
