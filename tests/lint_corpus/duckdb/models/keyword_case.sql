SELECT
    id,
    full_name
from {{ ref('people') }}
