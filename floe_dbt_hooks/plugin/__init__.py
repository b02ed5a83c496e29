"""The plugin system: markers, hook specifications, the plugin manager and where plugins come from.

``markers`` (the pluggy project name, ``hookspec``/``hookimpl``), ``hookspecs`` (every contract between
plugins), ``manager`` (``create_plugin_manager``: built-ins, entry points, the project file, blocking),
``entrypoints`` (the cached ``floe.dbt`` entry-point scan), ``project_hooks`` (loading a project's
``floe_hooks.py``). Nothing here imports dbt.
"""
