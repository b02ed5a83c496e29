select
    id,
    full_name
from {{ ref('people') }} with (nolock)
