"""A warm dbt-core server shared by the processes of one user (the dmypy / Gradle daemon pattern).

A fresh task process pays ~1 s to import dbt and ~1 s to parse a large project before running one
model; a long-lived server that keeps dbt imported and the parsed manifest warm pays neither. The
core runtime forwards ``dbt_run``/``dbt_compile`` to it when ``plugins.core.server`` (or
``FLOE_DBT_CORE_SERVER=1``) is on.

Modules: :mod:`.paths` (the private socket folder and each slot's files), :mod:`.protocol`
(newline-delimited JSON), :mod:`.environ` (a client's environment for one invocation),
:mod:`.serve` (the server loop, imports dbt), :mod:`.spawn` (starting a slot's server),
:mod:`.client` (what the core runtime calls; no dbt import), :mod:`.settings`.
"""
