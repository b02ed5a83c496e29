select
    id::text as id_text,
    full_name
from {{ ref('people') }}
where full_name ilike 'a%'
