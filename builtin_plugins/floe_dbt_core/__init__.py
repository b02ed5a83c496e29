"""The dbt-core runtime plugin for floe-dbt-hooks (dbtRunner, in-process)."""

RUNTIME_NAME = "core"
"""The name users select this runtime by (``--runtime core``)."""
PLUGIN_NAME = "floe_dbt_core"
