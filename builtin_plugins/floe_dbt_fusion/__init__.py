"""The dbt Fusion runtime plugin for floe-dbt-hooks (the Rust engine, by subprocess)."""
