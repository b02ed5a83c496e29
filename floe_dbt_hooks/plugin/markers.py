"""The pluggy project name and markers, kept import-free so any plugin can use them cheaply."""

import pluggy

NAME = "floe.dbt"
"""The pluggy project name, which is also the entry-point group third-party plugins publish under."""

hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)
