"""The dbt-core runtime plugin for floe-dbt-hooks (dbtRunner, in-process)."""
