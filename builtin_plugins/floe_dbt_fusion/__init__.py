"""The dbt Fusion runtime plugin for floe-dbt-hooks (the Rust engine, by subprocess)."""

RUNTIME_NAME = "fusion"
"""The name users select this runtime by (``--runtime fusion``)."""
PLUGIN_NAME = "floe_dbt_fusion"
