"""The real dbt Fusion binary passes the runtime contract (strictly: no fallback allowed)."""

import pytest

from floe_dbt_hooks.testing import RuntimeContract

pytestmark = pytest.mark.integration


class TestFusionRuntimeContract(RuntimeContract):
    runtime = "fusion"
