"""The dbt Cloud runtime plugin for floe-dbt-hooks (jobs run remotely through the Admin API v2)."""
