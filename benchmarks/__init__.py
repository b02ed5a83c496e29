"""floe-dbt-hooks benchmarks (run them with ``python benchmarks/run.py``; see README.md here).

``runner`` is the one process runner and the timing, median and ratio helpers; ``cases`` holds
one module per group of cases and the registry; ``cli`` the command line and the result table;
``generate_project`` writes the synthetic dbt projects.
"""
