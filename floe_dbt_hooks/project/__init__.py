"""A dbt project as the framework sees it, read without importing dbt.

``loading`` reads dbt_project.yml and profiles.yml (the selected target, its adapter, its secrets);
``target_paths`` decides where an invocation's artifacts go and prunes old isolated folders;
``freshness`` says whether artifacts on disk are newer than every project input.
"""

from floe_dbt_hooks.project.loading import (
    PROFILES_FILE,
    PROJECT_FILE,
    DBTProject,
    ProfileTarget,
    load_profile_target,
    load_project,
    referenced_env_vars,
    render_env_vars,
    resolve_profiles_dir,
)
from floe_dbt_hooks.project.target_paths import (
    KEEP_INVOCATIONS,
    KEEP_SECONDS,
    invocation_log_path,
    invocation_target_path,
    prepare_target_path,
)

__all__ = [
    "KEEP_INVOCATIONS",
    "KEEP_SECONDS",
    "PROFILES_FILE",
    "PROJECT_FILE",
    "DBTProject",
    "ProfileTarget",
    "invocation_log_path",
    "invocation_target_path",
    "load_profile_target",
    "load_project",
    "prepare_target_path",
    "referenced_env_vars",
    "render_env_vars",
    "resolve_profiles_dir",
]
