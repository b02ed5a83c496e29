"""Small dbt projects with planted SQL problems, one per SQLFluff dialect (see corpus.py)."""
