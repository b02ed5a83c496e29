"""The dbt Cloud runtime plugin for floe-dbt-hooks (jobs run remotely through the Admin API v2)."""

RUNTIME_NAME = "cloud"
"""The name users select this runtime by (``--runtime cloud``)."""
PLUGIN_NAME = "floe_dbt_cloud"
