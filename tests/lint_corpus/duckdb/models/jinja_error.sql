select
    id
from {{ ref('people' }}
