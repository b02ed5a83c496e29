"""dbt-core passes the runtime contract (it is the universal fallback, so it serves any request)."""

import pytest

from floe_dbt_hooks.testing import RuntimeContract

pytestmark = pytest.mark.integration


class TestCoreRuntimeContract(RuntimeContract):
    runtime = "core"
    universal_fallback = True
